#!/usr/bin/env python3
"""The lab's common commands, the same on every machine: python3 tasks.py COMMAND [ARGS...].

  lab        set up .venv (first time only) and open the lab in JupyterLab
  test       set up .venv and run every test (unit tests, nbval over solutions/, nbgrader end to end)
  doctor     say what this machine has and lacks, one line per part, each with the command that fixes it;
             changes nothing. Alone: what `lab` needs; --instructor: grading too; --hub: the class hub;
             --tests or --all: everything the tests use
  setup      create .venv and install exactly requirements.lock, the helpers and the lab's settings
             (skipped when up to date; --force installs again)
  lock       regenerate requirements.lock from requirements.txt (exact versions, every file's hash) and
             environment.yml's pins; keeps the locked versions unless told otherwise
             (--upgrade, or --upgrade-package NAME)
  settings   install the lab's JupyterLab settings into the running Python's environment (conda)
  release    regenerate the student copies notebooks/ from solutions/ (nbgrader generate_assignment)
             and the graders' rubric page labguide/08_written_answers.md
  zip_collect  file a Canvas or Moodle download (course/downloaded/ch8/archive/) into course/submitted/
  autograde  autograde every submission in course/submitted/ on all cores, then say what could not be
             graded and run the integrity scan (instructor/autograde.py; --jobs N, --student ID, --force)
  integrity  flag answer code that touches the grading machinery (course/integrity.csv)
  feedback   write HTML feedback for every autograded submission (nbgrader generate_feedback)
  export     write all grades to course/grades.csv (nbgrader export)
  figures    rerun the solution notebooks and rewrite labguide/figures/
  bench      print the benchmark figures (MNIST load time, notebook run time, autograde time)
  report     write the class report (HTML page and CSV) from the autograded submissions in course/
  hub        try the class on JupyterHub here (root): demo accounts, http://127.0.0.1:8000, Ctrl-C removes it

Only the Python standard library is used here, so this file runs before anything is installed.
A command started here gets the SIGINT, SIGTERM or SIGHUP that stops this script, and this
script waits for it to end: stopping `tasks.py lab` stops JupyterLab and its kernels.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / "lab-installed.sha256"
LOCK = ROOT / "requirements.lock"
REQUIREMENTS = ROOT / "requirements.txt"
ENVIRONMENT = ROOT / "environment.yml"
ASSIGNMENT = "ch8"
# The oldest Python the locked packages install on (NumPy 2.4 needs 3.11); the lock is made for it and newer.
MIN_PYTHON = (3, 11)
# The tool that writes requirements.lock, in a folder of its own so that .venv holds exactly the lock.
# uv, because its --universal lock holds every platform's packages (pywinpty on Windows, appnope on
# macOS): a lock made on Linux alone would refuse to install on a student's laptop.
LOCK_TOOL = "uv==0.13.8"
LOCK_TOOL_DIR = ROOT / ".lock-tool"


def _fingerprint() -> str:
    """Return a hash of the files that decide what gets installed."""
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, LOCK, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def _env() -> dict[str, str]:
    """Return the environment for the lab's tools: .venv first on PATH, its kernels preferred."""
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    # A "python3" kernel installed in the user's home folder must not shadow the one in .venv.
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    return env


# -- running a command, and stopping it with this script ----------------------------------------

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _typed_in_terminal(child: subprocess.Popen) -> bool:
    """Tell whether ``child`` shares this script's foreground terminal, so that a Ctrl-C there reached it too."""
    try:
        with open("/dev/tty", "rb", buffering=0) as tty:
            foreground = os.tcgetpgrp(tty.fileno())
        return foreground == os.getpgrp() == os.getpgid(child.pid)
    except OSError:  # no terminal, or the child is gone: the interrupt came from elsewhere
        return False


def _run(*args: str | Path) -> int:
    """Run a command from the repository root with the lab's environment; return its exit code.

    SIGINT, SIGTERM and SIGHUP sent to this script are passed on to the command, and the script
    waits for it: a process manager, a closed terminal or `kill` stops the command as well, which
    then stops what it started (JupyterLab its kernels, pytest its servers).
    """
    print("+", " ".join(str(a) for a in args), flush=True)
    if os.name != "posix":  # Windows sends Ctrl-C to every process of the console itself
        return subprocess.call([str(a) for a in args], cwd=ROOT, env=_env())
    started: list[subprocess.Popen] = []
    pending: list[int] = []

    def forward(signum: int, frame: object) -> None:
        if not started:
            pending.append(signum)  # arrived before the command started: passed on once it has
        elif not (signum == signal.SIGINT and _typed_in_terminal(started[0])):
            # (A Ctrl-C typed in the terminal reached the command already; a second one would make
            # JupyterLab stop without asking and cut pytest's clean-up short.)
            started[0].send_signal(signum)

    previous = {number: signal.signal(number, forward) for number in STOP_SIGNALS}
    try:
        started.append(subprocess.Popen([str(a) for a in args], cwd=ROOT, env=_env()))
        for signum in pending:
            started[0].send_signal(signum)
        code = started[0].wait()  # signals interrupt the wait only to run forward(); it then goes on
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 128 - code if code < 0 else code  # a command ended by signal N exits like a shell's: 128 + N


# JupyterLab settings shipped with the lab (Markdown opens rendered, no news pop-up). They go into
# the environment's overrides.d folder under a name of their own, so that an overrides.json an
# administrator wrote stays untouched; a user's own settings still win over both.
LAB_SETTINGS = ROOT / "lab_settings" / "overrides.json"
LAB_SETTINGS_NAME = "grokking-ch8.json"


def installed_lab_settings(prefix: Path) -> Path:
    """Return where JupyterLab in the environment at ``prefix`` reads the lab's settings from."""
    return prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / LAB_SETTINGS_NAME


def settings(prefix: str = sys.prefix) -> int:
    """Install the lab's JupyterLab settings into the environment at ``prefix`` (default: this Python's)."""
    target = installed_lab_settings(Path(prefix))
    if not target.exists() or target.read_bytes() != LAB_SETTINGS.read_bytes():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(LAB_SETTINGS.read_bytes())
        print(f"JupyterLab settings for the lab installed: {target}", flush=True)
    return 0


# -- the lock ------------------------------------------------------------------------------------

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    """Return a package name as pip compares it (PEP 503: case and -_. do not matter)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path = LOCK) -> dict[str, str]:
    """Return {package: version} pinned in ``lock`` (a package pinned per Python version: the last pin)."""
    text = lock.read_text() if lock.exists() else ""
    return {canonical(name): version for name, version in _PIN.findall(text)}


def required_names(requirements: Path = REQUIREMENTS) -> list[str]:
    """Return the package names requirements.txt lists, in its order."""
    names = []
    for line in requirements.read_text().splitlines():
        found = _REQUIREMENT.match(line.split("#")[0])
        if found:
            names.append(canonical(found[1]))
    return names


def unlocked(requirements: Path = REQUIREMENTS, lock: Path = LOCK) -> list[str]:
    """Return the packages requirements.txt lists that the lock does not pin."""
    pinned = locked_versions(lock)
    return [name for name in required_names(requirements) if name not in pinned]


def _uv() -> Path | None:
    """Return the lock tool (uv) in its own folder, installing it there first if needed; None if that fails."""
    tool_bin = LOCK_TOOL_DIR / BIN.name
    uv = tool_bin / ("uv.exe" if os.name == "nt" else "uv")
    marker = LOCK_TOOL_DIR / "installed.txt"
    if uv.exists() and marker.exists() and marker.read_text() == LOCK_TOOL:
        return uv
    venv.create(LOCK_TOOL_DIR, with_pip=True, clear=True)
    python = tool_bin / PYTHON.name
    if _run(python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", LOCK_TOOL) != 0:
        return None
    marker.write_text(LOCK_TOOL)
    return uv


def pin_environment_yml(pins: dict[str, str], path: Path = ENVIRONMENT) -> bool:
    """Pin each conda package of environment.yml to the lock's version, comments kept; return whether it changed."""
    old = path.read_text()
    lines = []
    for line in old.splitlines():
        found = re.match(r"^  - ([A-Za-z0-9][A-Za-z0-9._-]*)([^#]*?)\s*(#.*)?$", line)
        if found and canonical(found[1]) in pins:
            spec = f"{found[1]}=={pins[canonical(found[1])]}"
            line = f"  - {spec:<25} {found[3] or ''}".rstrip()
        lines.append(line)
    new = "\n".join(lines) + "\n"
    if new != old:
        path.write_text(new)
    return new != old


def lock(*args: str) -> int:
    """Write requirements.lock from requirements.txt with uv (every platform, Python 3.11 and newer), then pin environment.yml."""
    uv = _uv()
    if uv is None:
        print(f"Could not install the lock tool ({LOCK_TOOL}) into {LOCK_TOOL_DIR}.", file=sys.stderr)
        return 1
    # uv keeps the versions already in requirements.lock unless --upgrade(-package) says otherwise,
    # so adding a requirement pins only it (and what it needs); the book's numbers stay as made.
    code = _run(uv, "pip", "compile", REQUIREMENTS.name, "--output-file", LOCK.name, "--universal",
                "--python-version", "{}.{}".format(*MIN_PYTHON), "--generate-hashes", "--quiet",
                "--custom-compile-command", "python3 tasks.py lock", *args)
    if code != 0:
        return code
    if pin_environment_yml(locked_versions()):
        print(f"{ENVIRONMENT.name}: pins updated to the lock's versions", flush=True)
    print(f"{LOCK.name}: {len(locked_versions())} packages. Run `python3 tasks.py setup` to install them.", flush=True)
    return 0


# -- set-up --------------------------------------------------------------------------------------

def setup(*args: str) -> int:
    """Create .venv and install exactly requirements.lock (hashes checked), the helpers and the lab's settings."""
    if sys.version_info < MIN_PYTHON:
        print(f"The lab's packages need Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is "
              f"{sys.version.split()[0]}. Run tasks.py with a newer Python ({_newer_python_hint()}).",
              file=sys.stderr)
        return 1
    if not PYTHON.exists():
        print(f"Creating the virtual environment {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    # pip install -e . does not install data files (setuptools' editable wheels leave them out),
    # so the settings are copied here, and again whenever the lab's copy changes.
    settings(str(VENV))
    if "--force" not in args and STAMP.exists() and STAMP.read_text() == _fingerprint():
        return 0
    missing = unlocked()
    if missing:
        print(f"requirements.txt lists {', '.join(missing)}, which {LOCK.name} does not pin: run "
              "`python3 tasks.py lock`, then this again.", file=sys.stderr)
        return 1
    # Exactly the locked versions, each file checked against its hash; then the helpers alone
    # (their own needs are in the lock already, so pip must not resolve anything more).
    code = _run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "--require-hashes",
                "-r", LOCK.name)
    if code == 0:
        code = _run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "--no-deps", "-e", ".")
    if code == 0:
        # Notebook 05's training loops, compiled once now (Numba keeps them on disk) rather than
        # during the notebook's first run.
        code = _run(PYTHON, "-c", "from helpers.many_seeds import compile_now; compile_now()")
    if code == 0:
        STAMP.write_text(_fingerprint())
    return code


def _nbgrader(*args: str) -> int:
    return setup() or _run(PYTHON, "-m", "nbgrader", *args)


def lab(*args: str) -> int:
    """Open JupyterLab on the first practice notebook, with the whole lab (guide too) in its file browser."""
    options = [f"--ServerApp.root_dir={ROOT}",
               f"--LabApp.default_url=/lab/tree/notebooks/{ASSIGNMENT}/01_overfitting.ipynb"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options.append("--allow-root")  # containers and classroom VMs often run as root
    return setup() or _run(PYTHON, "-m", "jupyter", "lab", *options, *args)


def test(*args: str) -> int:
    """Run the unit tests, nbval over the solution notebooks and the nbgrader pipeline tests."""
    return setup() or _run(PYTHON, "-m", "pytest", "tests", f"solutions/{ASSIGNMENT}", "--nbval",
                           "--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
                           *args)


def release(*args: str) -> int:
    """Write the student copies, then the graders' rubric page, both from solutions/."""
    return (_nbgrader("generate_assignment", ASSIGNMENT, "--force", *args)
            or _run(PYTHON, "-m", "instructor.written"))


def zip_collect(*args: str) -> int:
    return _nbgrader("zip_collect", ASSIGNMENT, *args)


def autograde(*args: str) -> int:
    return setup() or _run(PYTHON, "-m", "instructor.autograde", *args)


def integrity(*args: str) -> int:
    return setup() or _run(PYTHON, "-m", "instructor.integrity", *args)


def feedback(*args: str) -> int:
    return _nbgrader("generate_feedback", ASSIGNMENT, *args)


def export(*args: str) -> int:
    return _nbgrader("export", "--to", "course/grades.csv", *args)


def figures(*args: str) -> int:
    return setup() or _run(PYTHON, "labguide/make_figures.py", *args)


def bench(*args: str) -> int:
    return setup() or _run(PYTHON, "bench/run_all.py", *args)


def report(*args: str) -> int:
    """Write the class report (python -m instructor.report) from the autograded submissions in course/."""
    return setup() or _run(PYTHON, "-m", "instructor.report", *args)


def hub(*args: str) -> int:
    """Run a try-out class on JupyterHub (hub/jupyterhub_config.py) until Ctrl-C; see README, A class on JupyterHub."""
    return setup() or _run(PYTHON, "-m", "instructor.classhub", *args)


# -- doctor: what this machine has and lacks -----------------------------------------------------

# The parts, in the order the table shows them, and which users' commands need each.
PARTS = {
    "python": "Python",
    "venv": ".venv = requirements.lock",
    "mnist": "MNIST",
    "settings": "JupyterLab settings",
    "course": "nbgrader course config",
    "exchange": "nbgrader exchange",
    "gradebook": "gradebook",
    "sandbox": "grading sandbox",
    "proxy": "hub proxy",
    "accounts": "hub accounts (root)",
    "chromium": "chromium (browser tests)",
    "postgres": "PostgreSQL (database tests)",
}
NEEDS = {
    "lab": ("python", "venv", "mnist", "settings"),
    "instructor": ("python", "venv", "mnist", "course", "exchange", "gradebook", "sandbox"),
    "hub": ("python", "venv", "mnist", "course", "exchange", "proxy", "accounts"),
    "tests": tuple(PARTS),
}
# The checks that need the lab's packages run in .venv's Python (instructor/doctor.py).
IN_VENV = ("venv", "mnist", "course", "sandbox", "gradebook")
DOCTOR_TIMEOUT = 30  # s; the checks take about one

Row = tuple[bool, str, str]  # (present, what was found, the one command that fixes it)


def _sudo() -> str:
    """Return 'sudo ' unless this already runs as root."""
    return "" if getattr(os, "geteuid", lambda: 0)() == 0 else "sudo "


def _newer_python_hint() -> str:
    """Return a command that runs tasks.py with a new enough Python found on PATH, or how to get one."""
    for minor in range(14, MIN_PYTHON[1] - 1, -1):
        if shutil.which(f"python3.{minor}"):
            return f"python3.{minor} tasks.py setup"
    return f"{_sudo()}apt-get install python3 (3.11 or newer), or python.org's installer"


def _venv_version() -> tuple[int, ...] | None:
    """Return the Python version .venv was made with (its pyvenv.cfg), or None without one."""
    try:
        text = (VENV / "pyvenv.cfg").read_text()
    except OSError:
        return None
    found = re.search(r"^version(?:_info)?\s*=\s*([0-9.]+)", text, re.M)
    return tuple(int(part) for part in found[1].split(".") if part) if found else None


def _check_python() -> Row:
    """Is this Python (and the one .venv was made with) new enough for the locked packages?"""
    wanted = ".".join(map(str, MIN_PYTHON))
    here = sys.version.split()[0]
    if sys.version_info < MIN_PYTHON:
        return False, f"{here} ({sys.executable}); the locked packages need {wanted} or newer", _newer_python_hint()
    made = _venv_version()
    if made is not None and made[:2] < MIN_PYTHON:
        return (False, f"{here}, but .venv was made with {'.'.join(map(str, made))}",
                "rm -rf .venv && python3 tasks.py setup")
    return True, f"{here} ({sys.executable})" + (f"; .venv: {'.'.join(map(str, made))}" if made else ""), ""


def _check_venv_files() -> Row | None:
    """Is .venv there, and installed from the present lock? None when the installed versions must be compared."""
    if not LOCK.exists():
        return False, f"{LOCK.name} is missing", "python3 tasks.py lock"
    missing = unlocked()
    if missing:
        return False, f"{LOCK.name} does not pin {', '.join(missing)} (requirements.txt lists it)", "python3 tasks.py lock"
    if not PYTHON.exists():
        return False, ".venv is not created yet", "python3 tasks.py setup"
    if not STAMP.exists() or STAMP.read_text() != _fingerprint():
        return False, f"{LOCK.name} or requirements.txt changed since .venv was installed", "python3 tasks.py setup"
    return None


def _check_settings() -> Row:
    """Are the lab's JupyterLab settings installed in .venv, as lab_settings/ has them?"""
    target = installed_lab_settings(VENV)
    shown = target.relative_to(ROOT)
    if not target.exists():
        return False, f"not installed ({shown})", "python3 tasks.py setup"
    if target.read_bytes() != LAB_SETTINGS.read_bytes():
        return False, f"{shown} differs from lab_settings/overrides.json", "python3 tasks.py setup"
    return True, str(shown), ""


def _check_exchange() -> Row:
    """Is nbgrader's exchange folder there (or made by the first nbgrader command) and open to everyone?"""
    named = os.environ.get("CH8_EXCHANGE", "").strip()  # as nbgrader_config.py reads it
    folder = Path(named) if named else ROOT / "course" / "exchange"
    if not folder.is_dir():
        if not named:
            return True, "course/exchange (nbgrader_config.py makes it at the first nbgrader command)", ""
        return False, f"CH8_EXCHANGE={folder} does not exist", f"mkdir -p {folder} && chmod 777 {folder}"
    if folder.stat().st_mode & 0o777 != 0o777:
        return False, f"{folder} is not writable by every student (mode {folder.stat().st_mode & 0o777:o})", \
            f"chmod 777 {folder}"
    return True, f"{folder} (open to every student)", ""


def _check_proxy() -> Row:
    """Is JupyterHub's proxy, configurable-http-proxy, on PATH?"""
    found = shutil.which("configurable-http-proxy")
    if found:
        return True, found, ""
    npm = "" if shutil.which("npm") else f"{_sudo()}apt-get install nodejs npm && "
    return False, "configurable-http-proxy is not on PATH", f"{npm}{_sudo()}npm install -g configurable-http-proxy"


def _check_accounts() -> Row:
    """Can this machine make the hub's system accounts (Linux, root, the shadow tools)?"""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False, "not root on Linux: the class members are system accounts made for the hub", \
            "sudo python3 tasks.py hub"
    tools = [tool for tool in ("useradd", "userdel", "groupadd", "groupdel", "chpasswd") if not shutil.which(tool)]
    if tools:
        return False, f"{', '.join(tools)} not found", "apt-get install passwd"
    return True, "root; useradd, userdel, groupadd, groupdel, chpasswd", ""


def _check_chromium() -> Row:
    """Is the chromium the browser tests drive there ($CHROMIUM, else /usr/bin/chromium, as tests/test_browser.py)?"""
    browser = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    if os.access(browser, os.X_OK) and browser.is_file():
        return True, str(browser), ""
    return False, f"{browser} is not there", f"{_sudo()}apt-get install chromium"


def _check_postgres() -> Row:
    """Are PostgreSQL's server programs there, where tests/postgres_server.py looks for them?"""
    # tests/postgres_server.py uses the standard library only: loaded from its file, it finds the
    # programs exactly as the tests will.
    finder = ROOT / "tests" / "postgres_server.py"
    if not finder.is_file():
        return False, "tests/postgres_server.py is missing", "git checkout -- tests"
    spec = importlib.util.spec_from_file_location("_lab_postgres_server", finder)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = module.server_bin_dir()
    if folder is None:
        return False, "initdb and pg_ctl not found", f"{_sudo()}apt-get install postgresql"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:  # as root the tests run the server as this user
            return False, f"{folder}, but no 'postgres' user to run it as", "apt-get install postgresql"
    return True, str(folder), ""


def _start_venv_checks(parts: list[str]) -> subprocess.Popen | OSError | None:
    """Start the checks that need the lab's packages in .venv's Python (their answer: JSON on stdout)."""
    if not parts or not PYTHON.exists():
        return None
    # -B: checking writes nothing, not even bytecode.
    try:
        return subprocess.Popen([str(PYTHON), "-B", "-m", "instructor.doctor", "--root", str(ROOT), *parts],
                                cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as error:  # .venv's Python cannot run (made for another machine, not ours to run)
        return error


def _venv_results(process: subprocess.Popen | OSError | None, parts: list[str]) -> dict[str, Row]:
    """Return the rows the .venv checks answered; each part they could not check says why."""
    if process is None:
        return {part: (False, "not checked: .venv is not created yet", "python3 tasks.py setup") for part in parts}
    if isinstance(process, OSError):
        return {part: (False, f"not checked: .venv's Python does not run ({process.strerror})",
                       "rm -rf .venv && python3 tasks.py setup") for part in parts}
    try:
        out, err = process.communicate(timeout=DOCTOR_TIMEOUT)
        answered = {part: tuple(row) for part, row in json.loads(out).items()}
    except (subprocess.TimeoutExpired, ValueError) as error:
        process.kill()
        out, err = process.communicate()
        said = (err.strip().splitlines() or [str(error)])[-1]
        return {part: (False, f"not checked: .venv's Python failed ({said})", "python3 tasks.py setup --force")
                for part in parts}
    return answered


def doctor(*args: str) -> int:
    """Print one line per part the chosen commands need, each present (✓) or not (✗) with its fix; 1 if any is missing."""
    chosen = {"--instructor": "instructor", "--hub": "hub", "--tests": "tests", "--all": "tests"}
    unknown = [arg for arg in args if arg not in chosen]
    if unknown:
        print(f"doctor: unknown option {unknown[0]}; options: --instructor, --hub, --tests, --all", file=sys.stderr)
        return 2
    kinds = sorted({chosen[arg] for arg in args}) or ["lab"]
    wanted = [part for part in PARTS if any(part in NEEDS[kind] for kind in kinds)]
    started = time.monotonic()
    rows: dict[str, Row] = {}
    if "venv" in wanted:
        early = _check_venv_files()
        if early is not None:
            rows["venv"] = early
    gradebook_url = os.environ.get("LAB_GRADEBOOK_URL", "").strip()
    if "gradebook" in wanted and not gradebook_url:
        rows["gradebook"] = (True, "SQLite file course/gradebook.db (LAB_GRADEBOOK_URL is not set)", "")
    in_venv = [part for part in wanted if part in IN_VENV and part not in rows]
    process = _start_venv_checks(in_venv)  # runs while the checks below run here
    local = {"python": _check_python, "settings": _check_settings, "exchange": _check_exchange,
             "proxy": _check_proxy, "accounts": _check_accounts, "chromium": _check_chromium,
             "postgres": _check_postgres}
    rows.update({part: local[part]() for part in wanted if part in local})
    rows.update(_venv_results(process, in_venv))
    _print_table([(part, rows[part]) for part in wanted])
    missing = [PARTS[part] for part in wanted if not rows[part][0]]
    seconds = time.monotonic() - started
    what = " and ".join({"lab": "the lab", "instructor": "grading", "hub": "the class hub",
                         "tests": "the tests"}[kind] for kind in kinds)
    again = " ".join(("python3 tasks.py doctor", *args))
    if missing:
        print(f"\nMissing for {what}: {', '.join(missing)}. Run the command shown beside each, then "
              f"`{again}` again. ({seconds:.1f} s)")
    else:
        print(f"\nEverything {what} {'need' if len(kinds) > 1 or kinds == ['tests'] else 'needs'} is here. "
              f"({seconds:.1f} s)")
    if kinds == ["lab"]:
        print("Instructors: --instructor (grading), --hub (the class hub), --all (everything the tests use).")
    return 1 if missing else 0


def _print_table(rows: list[tuple[str, Row]]) -> None:
    """Print the doctor's table: a line per part with its mark, what was found, and the command that fixes it."""
    try:
        yes, no = "✓", "✗"
        (yes + no).encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):  # a console that cannot show them (cp1252 on Windows)
        yes, no = "ok", "NO"
    part_width = max(len(PARTS[part]) for part, _ in rows)
    found_width = min(64, max(len(found) for _, (_, found, _) in rows))
    for part, (ok, found, fix) in rows:
        fix = f"  fix: {fix}" if not ok and fix else ""
        print(f"{yes if ok else no}  {PARTS[part]:<{part_width}}  {found:<{found_width}}{fix}".rstrip())


COMMANDS = {f.__name__: f for f in (lab, test, doctor, setup, lock, settings, release, zip_collect, autograde,
                                    integrity, feedback, export, report, figures, bench, hub)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
