"""The install files agree, the lock pins them all, this environment is the lock, and CI runs the README's test command."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from jupyter_client.manager import start_new_kernel
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from instructor.doctor import installed, lock_differences, lock_requirements, locked_here

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
KERNEL_TIMEOUT = 60  # s: a kernel starts and answers


def _tasks():
    """Return tasks.py as a module (standard library only: importing it runs nothing)."""
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _requirements() -> dict[str, str]:
    """Return {package: specifier} from requirements.txt."""
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            # A pip extra (psycopg[binary]: the wheel with libpq inside) has no conda counterpart:
            # conda-forge's package brings its libpq itself; the name must still agree.
            name, spec = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)", line).groups()
            found[name.lower()] = spec.replace(" ", "")
    return found


def _conda() -> dict[str, str]:
    """Return {package: specifier} from environment.yml's conda dependencies (python and pip aside)."""
    found, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        line = line.split("#")[0].rstrip()
        if line.startswith("dependencies:"):
            in_deps = True
        elif in_deps and re.match(r"^  - [A-Za-z]", line):
            name, spec = re.match(r"^  - ([A-Za-z0-9_.\-]+)\s*(.*)", line).groups()
            if name not in ("python", "pip"):
                found[name.lower()] = spec.replace(" ", "")
    return found


def _wanted() -> list[Requirement]:
    """Return what the lab asks for: requirements.txt's lines and the helpers package's own dependencies."""
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(line) for line in lines if line] + [Requirement(dep) for dep in project["dependencies"]]


def test_conda_and_pip_list_the_same_packages():
    """environment.yml (conda) and requirements.txt (pip) name the same packages."""
    pip, conda = _requirements(), _conda()
    assert set(pip) == set(conda)
    assert {"numpy", "jupyterlab", "nbgrader", "matplotlib", "nbval", "pooch"} <= set(pip)


def test_conda_pins_the_locked_versions():
    """environment.yml pins each package to requirements.lock's version (what `tasks.py lock` writes)."""
    pinned = locked_here(LOCK)
    conda = _conda()
    assert conda == {name: f"=={pinned[canonicalize_name(name)]}" for name in conda}


def test_the_lock_pins_every_requirement_within_its_bounds_with_hashes():
    """Every package requirements.txt and pyproject.toml ask for (extras too) is pinned, within its bounds, hashed."""
    pinned = locked_here(LOCK)
    for wanted in _wanted():
        name = canonicalize_name(wanted.name)
        assert name in pinned, f"requirements.lock does not pin {name}: run python3 tasks.py lock"
        assert wanted.specifier.contains(pinned[name], prereleases=True), (
            f"requirements.lock pins {name}=={pinned[name]}, outside requirements.txt's {wanted.specifier}")
    assert "psycopg-binary" in pinned  # psycopg[binary]: the extra's package is locked too
    text = re.sub(r"\\\s*\n", " ", LOCK.read_text())
    pins = [line for line in text.splitlines() if "==" in line and not line.startswith("#")]
    assert pins and all("--hash=sha256:" in line for line in pins), "every pin needs its files' hashes"
    assert len(pins) == len(lock_requirements(LOCK))


def test_the_lock_is_made_for_the_python_the_lab_asks_for():
    """tasks.py's oldest Python, pyproject.toml's requires-python and environment.yml's python agree."""
    oldest = ".".join(map(str, _tasks().MIN_PYTHON))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={oldest}"
    assert re.search(rf"^  - python>={re.escape(oldest)}\s", (ROOT / "environment.yml").read_text(), re.M)
    assert sys.version_info >= _tasks().MIN_PYTHON


def test_the_names_tasks_py_reads_from_the_lock_are_packagings():
    """tasks.py's own reading of the lock (standard library, before anything is installed) agrees with packaging's."""
    tasks = _tasks()
    assert set(tasks.locked_versions(LOCK)) == {canonicalize_name(pin.name) for pin in lock_requirements(LOCK)}
    assert tasks.unlocked() == []


def test_a_new_requirement_is_reported_until_the_lock_is_made_again(tmp_path):
    """A package added to requirements.txt but not locked: setup refuses, naming it and `tasks.py lock`."""
    tasks = _tasks()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text((ROOT / "requirements.txt").read_text() + "jupyterhub-systemdspawner>=1.0  # one server per systemd unit\n")
    assert tasks.unlocked(requirements, LOCK) == ["jupyterhub-systemdspawner"]


def test_lock_rewrites_environment_yml_pins_and_keeps_comments(tmp_path):
    """tasks.py lock pins environment.yml to the lock; run on today's file it changes nothing."""
    tasks = _tasks()
    copy = tmp_path / "environment.yml"
    shutil.copy(ROOT / "environment.yml", copy)
    assert not tasks.pin_environment_yml(tasks.locked_versions(LOCK), copy)
    copy.write_text(copy.read_text().replace("  - numpy==", "  - numpy>=1.26 # was ").replace("  - pytest==9", "  - pytest>=8 #"))
    assert tasks.pin_environment_yml({"numpy": "2.4.6", "pytest": "9.2.0"}, copy)
    text = copy.read_text()
    assert re.search(r"^  - numpy==2\.4\.6 +# was ", text, re.M) and re.search(r"^  - pytest==9\.2\.0 +#", text, re.M)


def test_the_installed_environment_is_the_lock():
    """Every locked package is installed at its locked version, and pip finds nothing broken."""
    assert lock_differences(LOCK) == []
    checked = subprocess.run([sys.executable, "-m", "pip", "check", "--disable-pip-version-check"],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_real_kernel_runs_the_locked_versions(monkeypatch):
    """The "python3" kernel the notebooks and the grader run on is this environment, with the locked versions."""
    # As tasks.py runs every tool: the environment's own kernel first, whatever a home folder holds.
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    code = ("import json, sys, importlib.metadata as m, numpy, numba, matplotlib, ipykernel\n"
            "print(json.dumps({'prefix': sys.prefix, 'numpy': numpy.__version__, 'numba': numba.__version__,"
            " 'matplotlib': matplotlib.__version__, 'ipykernel': ipykernel.__version__,"
            " **{name: m.version(name) for name in ('llvmlite', 'nbgrader', 'nbclient', 'nbformat', 'jupyter_client')}}))")
    manager, client = start_new_kernel(kernel_name="python3", env=env, startup_timeout=KERNEL_TIMEOUT)
    lines: list[str] = []
    try:
        reply = client.execute_interactive(code, timeout=KERNEL_TIMEOUT, output_hook=lambda msg: lines.append(
            msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    reported = json.loads("".join(lines))
    assert Path(reported.pop("prefix")).resolve() == Path(sys.prefix).resolve()
    pinned = locked_here(LOCK)
    assert reported == {name: pinned[canonicalize_name(name)] for name in reported}
    assert installed()["numpy"] == reported["numpy"]


def test_environment_installs_the_helpers_package():
    """conda users get the helpers package too (pip: -e .)."""
    assert re.search(r"^\s+- -e \.", (ROOT / "environment.yml").read_text(), re.M)


def test_ci_runs_exactly_the_readme_test_command():
    """The README's test command is the last command .ci/run executes."""
    readme = (ROOT / "README.md").read_text()
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert commands[-1] == "python3 tasks.py test"
    assert "python3 tasks.py test" in readme and "python3 tasks.py lab" in readme
