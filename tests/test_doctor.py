"""`python3 tasks.py doctor`: one line per part, ✓ when it is there, ✗ with the command that fixes it.

Each kind of part is checked present on this machine and missing in a way a newcomer meets it,
without uninstalling anything: a fresh clone (a copy of the files tasks.py reads, no .venv), PATH or
an environment variable pointing at an empty folder, a file edited in a copy, an unprivileged user,
a folder hidden in a private mount namespace (bubblewrap, as the grading sandbox uses it).
"""
from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from instructor.classhub import unreachable_for_others
from postgres_server import free_port

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
DOCTOR_TIMEOUT = 60  # s for one doctor run (it takes about one)
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass
class Report:
    """What one doctor run printed and its exit code."""

    code: int
    out: str

    def row(self, part: str) -> tuple[bool, str]:
        """Return (present, the whole line) of ``part``'s row."""
        for line in self.out.splitlines():
            if line[3:].startswith(part + " "):
                return line.startswith("✓"), line
        raise AssertionError(f"no row for {part!r} in:\n{self.out}")

    def present(self, part: str) -> bool:
        """Tell whether ``part`` is marked present."""
        return self.row(part)[0]

    def fix(self, part: str) -> str:
        """Return the command shown to fix a missing ``part``."""
        ok, line = self.row(part)
        assert not ok and "fix: " in line, line
        return line.split("fix: ", 1)[1]


def doctor(*options: str, root: Path = ROOT, python: str = sys.executable, prefix: tuple[str, ...] = (),
           user: int | None = None, **env: str) -> Report:
    """Run ``python3 tasks.py doctor OPTIONS`` in ``root`` with ``env`` added (None-valued names removed)."""
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    environment.update(env)
    done = subprocess.run([*prefix, python, str(root / "tasks.py"), "doctor", *options], cwd=root, env=environment,
                          capture_output=True, text=True, encoding="utf-8", timeout=DOCTOR_TIMEOUT, user=user)
    assert not done.stderr.strip() or done.returncode == 2, done.stderr
    return Report(done.returncode, done.stdout)


def _fresh_clone(folder: Path) -> Path:
    """Return ``folder`` holding what a fresh clone has that doctor reads, and no .venv."""
    folder.mkdir()
    for name in ("tasks.py", "requirements.txt", "requirements.lock", "pyproject.toml", "environment.yml",
                 "nbgrader_config.py"):
        shutil.copy2(ROOT / name, folder / name)
    shutil.copytree(ROOT / "lab_settings", folder / "lab_settings")
    (folder / "tests").mkdir()
    shutil.copy2(ROOT / "tests" / "postgres_server.py", folder / "tests")
    shutil.copytree(ROOT / "solutions", folder / "solutions")
    return folder


def _borrowed_venv(folder: Path) -> Path:
    """Give the copy in ``folder`` a .venv whose programs and packages are this one's, installed from its own files."""
    (folder / ".venv").mkdir()
    for entry in VENV.iterdir():
        if entry.name != "lab-installed.sha256":
            (folder / ".venv" / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    _stamp(folder)
    return folder


def _stamp(folder: Path) -> None:
    """Mark the copy's .venv as installed from the copy's files, as tasks.py setup does after installing."""
    digest = hashlib.sha256()
    for name in ("requirements.txt", "requirements.lock", "pyproject.toml"):
        digest.update((folder / name).read_bytes())
    (folder / ".venv" / "lab-installed.sha256").write_text(digest.hexdigest())


def _listing(folder: Path) -> dict[str, int]:
    """Return {path: modification time} of everything in ``folder`` (symlinks not followed)."""
    return {str(p.relative_to(folder)): p.lstat().st_mtime_ns for p in folder.rglob("*")}


def _mnist_dir() -> Path:
    """Return the MNIST folder the tests use, or skip (CI sets it: ../shared/mnist)."""
    folder = Path(os.environ.get("MNIST_DIR", ""))
    if not all((folder / f"{name}.gz").is_file() for name in MNIST_FILES):
        pytest.skip("set MNIST_DIR to a folder with the four MNIST files (CI: ../shared/mnist)")
    return folder


# -- this machine: everything there -----------------------------------------------------------------

def test_everything_present_here_within_seconds():
    """On the machine the tests run on, every part is there (CI installs them all); doctor --all says so within seconds."""
    _mnist_dir()
    started = time.monotonic()
    report = doctor("--all")
    seconds = time.monotonic() - started
    missing = [line for line in report.out.splitlines() if line.startswith("✗")]
    if os.environ.get("CI") != "true" and missing:
        pytest.skip("parts missing on this machine: " + "; ".join(missing))
    assert report.code == 0 and not missing, report.out
    assert len([line for line in report.out.splitlines() if line.startswith("✓")]) == 12
    assert seconds < 10, f"doctor --all took {seconds:.1f} s"


def test_alone_it_checks_what_the_lab_needs():
    """Without options: Python, .venv and the lock, MNIST and the JupyterLab settings, and a pointer to the rest."""
    _mnist_dir()
    report = doctor()
    assert [line[3:].split("  ")[0] for line in report.out.splitlines() if line[:1] in "✓✗" and line.strip()] == [
        "Python", ".venv = requirements.lock", "MNIST", "JupyterLab settings"]
    assert report.code == 0 and "--instructor" in report.out


def test_unknown_options_are_refused():
    """A mistyped option says which ones exist."""
    assert doctor("--instuctor").code == 2


# -- a fresh clone: nothing installed yet ----------------------------------------------------------

def test_a_fresh_clone_is_told_to_run_setup_and_nothing_is_changed(tmp_path):
    """No .venv: its row, and every check that needs it, say `python3 tasks.py setup`; the folder stays as it was."""
    clone = _fresh_clone(tmp_path / "clone")
    before = _listing(clone)
    report = doctor("--all", root=clone)
    assert report.code == 1
    assert report.fix(".venv = requirements.lock") == "python3 tasks.py setup"
    assert report.fix("JupyterLab settings") == "python3 tasks.py setup"
    for part in ("MNIST", "nbgrader course config", "grading sandbox"):
        assert report.fix(part) == "python3 tasks.py setup" and "not checked" in report.row(part)[1]
    assert report.present("Python") and report.present("nbgrader exchange")
    assert _listing(clone) == before, "doctor changed the folder"


def test_a_venv_made_with_an_old_python_is_named(tmp_path):
    """A .venv left from a Python older than the lock needs: the Python row says so and how to start again."""
    clone = _fresh_clone(tmp_path / "clone")
    (clone / ".venv").mkdir()
    (clone / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.10.12\n")
    report = doctor(root=clone)
    assert "3.10.12" in report.row("Python")[1] and report.fix("Python") == "rm -rf .venv && python3 tasks.py setup"


# -- the lock --------------------------------------------------------------------------------------

def test_a_package_installed_at_another_version_than_locked_is_named(tmp_path):
    """The lock says another NumPy than the one installed: the row names both and says to install again."""
    clone = _borrowed_venv(_fresh_clone(tmp_path / "clone"))
    assert doctor(root=clone).present(".venv = requirements.lock")
    lock = clone / "requirements.lock"
    lock.write_text(lock.read_text().replace("\nnumpy==2.4.6 ", "\nnumpy==2.4.5 "))
    _stamp(clone)  # as if installed from the edited lock, and NumPy changed by hand afterwards
    report = doctor(root=clone)
    assert "numpy 2.4.6 is installed (lock: 2.4.5)" in report.row(".venv = requirements.lock")[1]
    assert report.fix(".venv = requirements.lock") == "python3 tasks.py setup --force" and report.code == 1


def test_a_requirement_the_lock_lacks_is_named(tmp_path):
    """A package added to requirements.txt without `tasks.py lock`: the row names it and the command."""
    clone = _borrowed_venv(_fresh_clone(tmp_path / "clone"))
    with open(clone / "requirements.txt", "a") as requirements:
        requirements.write("jupyterhub-systemdspawner>=1.0  # one server per systemd unit\n")
    report = doctor(root=clone)
    assert "jupyterhub-systemdspawner" in report.row(".venv = requirements.lock")[1]
    assert report.fix(".venv = requirements.lock") == "python3 tasks.py lock"


def test_a_lock_changed_since_the_install_asks_for_setup(tmp_path):
    """requirements.lock edited after .venv was installed (a git pull): setup must run again."""
    clone = _borrowed_venv(_fresh_clone(tmp_path / "clone"))
    with open(clone / "requirements.lock", "a") as lock:
        lock.write("# pulled\n")
    report = doctor(root=clone)
    assert "changed since" in report.row(".venv = requirements.lock")[1]
    assert report.fix(".venv = requirements.lock") == "python3 tasks.py setup"


# -- MNIST -----------------------------------------------------------------------------------------

def test_mnist_present_and_verified(tmp_path):
    """MNIST_DIR with the four files, nothing cached about them: verified now, by checksum."""
    source = _mnist_dir()
    copy = tmp_path / "mnist"
    copy.mkdir()
    for name in MNIST_FILES:
        shutil.copy(source / f"{name}.gz", copy)
    report = doctor(MNIST_DIR=str(copy), MNIST_CACHE=str(tmp_path / "empty-cache"))
    assert report.present("MNIST") and "verified now" in report.row("MNIST")[1]
    assert not (tmp_path / "empty-cache").exists(), "doctor wrote into the cache"


def test_mnist_missing_names_the_download(tmp_path):
    """MNIST_DIR pointing at an empty folder: the fix downloads into that folder."""
    empty = tmp_path / "empty"
    empty.mkdir()
    report = doctor(MNIST_DIR=str(empty))
    assert report.code == 1 and "has none of the four files" in report.row("MNIST")[1]
    assert report.fix("MNIST") == f".venv/bin/python -m helpers.mnist download --dir {empty}"
    assert "does not exist" in doctor(MNIST_DIR=str(tmp_path / "nowhere")).row("MNIST")[1]


def test_a_damaged_mnist_file_is_named(tmp_path):
    """One file whose checksum does not match: named, with the command that replaces it."""
    source = _mnist_dir()
    copy = tmp_path / "mnist"
    copy.mkdir()
    for name in MNIST_FILES[:3]:
        shutil.copy(source / f"{name}.gz", copy)
    import gzip

    labels = bytearray(gzip.decompress((source / f"{MNIST_FILES[3]}.gz").read_bytes()))
    labels[100] = (labels[100] + 1) % 10  # one wrong label
    (copy / MNIST_FILES[3]).write_bytes(bytes(labels))
    report = doctor(MNIST_DIR=str(copy), MNIST_CACHE=str(tmp_path / "cache"))
    assert f"{MNIST_FILES[3]} fails its checksum" in report.row("MNIST")[1]
    assert report.fix("MNIST").startswith(f"rm {copy / MNIST_FILES[3]} && ")


# -- JupyterLab settings, the course and its exchange -------------------------------------------------

def test_settings_that_differ_from_the_lab_s_ask_for_setup(tmp_path):
    """lab_settings/overrides.json changed (a pull) but not installed yet: the settings row says setup."""
    clone = _borrowed_venv(_fresh_clone(tmp_path / "clone"))
    assert doctor(root=clone).present("JupyterLab settings")
    (clone / "lab_settings" / "overrides.json").write_text("{}\n")
    report = doctor(root=clone)
    assert "differs" in report.row("JupyterLab settings")[1] and report.fix("JupyterLab settings") == "python3 tasks.py setup"


def test_course_config_present_and_without_source_notebooks(tmp_path):
    """The course config and its source notebooks are there; in a copy without solutions/ the row says so."""
    report = doctor("--instructor")
    assert report.present("nbgrader course config") and "5 notebooks in solutions/ch8" in report.row("nbgrader course config")[1]
    clone = _borrowed_venv(_fresh_clone(tmp_path / "clone"))
    shutil.rmtree(clone / "solutions")
    report = doctor("--instructor", root=clone)
    assert "no source notebooks" in report.row("nbgrader course config")[1]
    assert report.fix("nbgrader course config") == "git checkout -- solutions"


def test_an_exchange_that_is_missing_or_closed_is_named(tmp_path):
    """CH8_EXCHANGE naming a missing folder, or one students cannot write to: each with its fix."""
    shared = tmp_path / "exchange"
    shared.mkdir()
    shared.chmod(0o777)
    assert doctor("--instructor", CH8_EXCHANGE=str(shared)).present("nbgrader exchange")
    missing = doctor("--instructor", CH8_EXCHANGE=str(tmp_path / "nowhere"))
    assert missing.fix("nbgrader exchange") == f"mkdir -p {tmp_path / 'nowhere'} && chmod 777 {tmp_path / 'nowhere'}"
    shared.chmod(0o755)
    assert doctor("--instructor", CH8_EXCHANGE=str(shared)).fix("nbgrader exchange") == f"chmod 777 {shared}"


# -- programs on PATH: the sandbox, the proxy, chromium, PostgreSQL -------------------------------------

def _present_here(report: Report, part: str) -> None:
    """Skip (or in CI fail) when ``part`` is not installed on this machine."""
    if not report.present(part):
        message = f"not installed here: {report.row(part)[1]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_programs_found_and_missing_from_path(tmp_path):
    """bubblewrap and configurable-http-proxy found; with PATH an empty folder, each named with its install command."""
    here = doctor("--instructor", "--hub")
    for part in ("grading sandbox", "hub proxy"):
        _present_here(here, part)
    empty = tmp_path / "bin"
    empty.mkdir()
    report = doctor("--instructor", "--hub", PATH=str(empty))
    assert report.code == 1
    assert report.fix("grading sandbox").endswith("apt-get install bubblewrap")
    assert report.fix("hub proxy").endswith("npm install -g configurable-http-proxy")
    assert report.present("Python") and report.present(".venv = requirements.lock")  # the rest is unaffected


def test_chromium_found_and_missing(tmp_path):
    """The browser tests' chromium found; with CHROMIUM naming nothing, its install command."""
    _present_here(doctor("--tests"), "chromium (browser tests)")
    report = doctor("--tests", CHROMIUM=str(tmp_path / "chromium"))
    assert report.fix("chromium (browser tests)").endswith("apt-get install chromium")


def test_postgresql_programs_found_and_hidden(tmp_path):
    """PostgreSQL's programs found; with their folder hidden under an empty one (bubblewrap), its install command."""
    _present_here(doctor("--tests"), "PostgreSQL (database tests)")
    bwrap = shutil.which("bwrap")
    if bwrap is None or os.geteuid() != 0:
        pytest.skip("hiding a folder needs bubblewrap and root")
    on_path = shutil.which("initdb", path="/usr/bin:/bin")
    if on_path or not Path("/usr/lib/postgresql").is_dir():
        pytest.skip("PostgreSQL's programs are not in Debian's /usr/lib/postgresql here: nothing to hide")
    report = doctor("--tests", prefix=(bwrap, "--dev-bind", "/", "/", "--tmpfs", "/usr/lib/postgresql"),
                    PATH=f"{VENV / 'bin'}:/usr/bin:/bin")
    assert report.fix("PostgreSQL (database tests)").endswith("apt-get install postgresql"), report.out


def test_hub_accounts_need_root():
    """Root can make the hub's accounts; an unprivileged user is told to run it as root."""
    if os.geteuid() != 0:
        pytest.skip("run as root to see both sides")
    assert doctor("--hub").present("hub accounts (root)")
    system_python = Path("/usr/bin/python3")
    nobody = pwd.getpwnam("nobody")
    if not system_python.exists() or unreachable_for_others(ROOT / "tasks.py"):
        pytest.skip("no /usr/bin/python3, or this checkout is closed to other users: nobody cannot run doctor here")
    report = doctor("--hub", python=str(system_python), user=nobody.pw_uid, HOME="/tmp")
    assert report.fix("hub accounts (root)") == "sudo python3 tasks.py hub"


# -- a PostgreSQL gradebook ------------------------------------------------------------------------

def test_a_postgresql_gradebook_that_answers_and_one_that_does_not(postgres):
    """LAB_GRADEBOOK_URL to the tests' own server: connects; to a port nothing listens on: the error and the fix."""
    url = postgres.create_database("doctor_check").replace("postgresql+psycopg://", "postgresql://")
    report = doctor("--instructor", LAB_GRADEBOOK_URL=url)
    assert report.present("gradebook") and "connects" in report.row("gradebook")[1]
    closed = f"postgresql://lab@127.0.0.1:{free_port()}/nothing"
    report = doctor("--instructor", LAB_GRADEBOOK_URL=closed)
    assert "does not connect" in report.row("gradebook")[1] and "LAB_GRADEBOOK_URL" in report.fix("gradebook")
