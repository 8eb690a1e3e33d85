#!/usr/bin/env python3
"""The lab's common commands, the same on every machine: python3 tasks.py COMMAND [ARGS...].

  lab        set up .venv (first time only) and open the lab in JupyterLab
  test       set up .venv and run every test (unit tests, nbval over solutions/, nbgrader end to end)
  setup      create .venv and install the packages and the helpers (skipped when up to date)
  settings   install the lab's JupyterLab settings into the running Python's environment (conda)
  release    regenerate the student copies notebooks/ from solutions/ (nbgrader generate_assignment)
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
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / "lab-installed.sha256"
ASSIGNMENT = "ch8"


def _fingerprint() -> str:
    """Return a hash of the files that decide what gets installed."""
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _env() -> dict[str, str]:
    """Return the environment for the lab's tools: .venv first on PATH, its kernels preferred."""
    env = dict(os.environ)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    # A "python3" kernel installed in the user's home folder must not shadow the one in .venv.
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    return env


def _run(*args: str | Path) -> int:
    """Run a command from the repository root with the lab's environment; return its exit code."""
    print("+", " ".join(str(a) for a in args), flush=True)
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=_env())


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


def setup() -> int:
    """Create .venv and install requirements.txt, the helpers package and the lab's JupyterLab settings."""
    if not PYTHON.exists():
        print(f"Creating the virtual environment {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    # pip install -e . does not install data files (setuptools' editable wheels leave them out),
    # so the settings are copied here, and again whenever the lab's copy changes.
    settings(str(VENV))
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return 0
    code = _run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check",
                "-r", "requirements.txt", "-e", ".")
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
    return _nbgrader("generate_assignment", ASSIGNMENT, "--force", *args)


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


COMMANDS = {f.__name__: f for f in (lab, test, setup, settings, release, zip_collect, autograde, integrity, feedback,
                                    export, report, figures, bench, hub)}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
