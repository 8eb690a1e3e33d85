"""The install files agree, and CI runs the README's test command."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> dict[str, str]:
    """Return {package: specifier} from requirements.txt."""
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            # A pip extra (psycopg[binary]: the wheel with libpq inside) has no conda counterpart:
            # conda-forge's package brings its libpq itself; the name and bounds must still agree.
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


def test_conda_and_pip_list_the_same_packages_and_bounds():
    """environment.yml (conda) and requirements.txt (pip) say the same thing."""
    pip, conda = _requirements(), _conda()
    assert pip == conda
    assert {"numpy", "jupyterlab", "nbgrader", "matplotlib", "nbval", "pooch"} <= set(pip)


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
