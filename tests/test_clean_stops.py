"""Stopping the lab's commands leaves no process behind.

* `python3 tasks.py lab`, started as tests/test_browser.py starts it (free loopback port, token),
  with a kernel started through JupyterLab's REST API: SIGTERM, SIGINT or SIGHUP sent to tasks.py
  alone, as a process manager sends it, stops JupyterLab and the kernel.
* `python3 tasks.py hub` (root and configurable-http-proxy): SIGTERM to tasks.py stops the hub, the
  proxy and a student's server, and removes the try-out accounts.
* An interrupted test run (`python3 tasks.py test ...` stopped by SIGTERM while a PostgreSQL server,
  a browser test's JupyterLab or the class hub runs) tears its servers down.

"No process remains" is checked on the processes themselves (psutil): everything tasks.py started,
recorded before the signal, plus the servers that run in sessions of their own.
"""
from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import requests

from conftest import unavailable
from instructor.classhub import MARK, free_port, missing_prerequisites
from postgres_server import INSTALL_HINT, server_bin_dir

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 180  # s: tasks.py checks the install, then JupyterLab (or the hub) starts
STOP_TIMEOUT = 120  # s: the command and everything it started end after the signal
APPEAR_TIMEOUT = 300  # s: a nested test run reaches the server it is to be stopped at
BROWSER_RESULTS = ROOT / "test-results" / "browser"  # tests/test_browser.py's screenshots and log
NESTED_RUN = "LAB_TEST_NESTED_RUN"  # marks the processes of one nested run (servers in their own sessions too)




def _wait_for(what: str, ready: Callable[[], object], timeout: float, log: Path | None = None) -> object:
    """Return ``ready()``'s first true answer, polling for at most ``timeout`` s; else fail saying what and showing the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = ready()
        if answer:
            return answer
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tail}")


def _command(process: psutil.Process) -> str:
    """Return the command line of ``process``, or '' for one that ended or is a zombie meanwhile."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _tree(pid: int) -> list[psutil.Process]:
    """Return the process ``pid`` and all its descendants."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Return the processes of the list that still run (not ended, not a zombie waiting to be reaped)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return alive


def _survivors(processes: list[psutil.Process], timeout: float = STOP_TIMEOUT) -> list[str]:
    """Wait up to ``timeout`` s for the processes to end; return a description of those still running."""
    deadline = time.monotonic() + timeout
    while _alive(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [f"{p.pid} {_command(p)[:120]}" for p in _alive(processes)]


def _kill(processes: list[psutil.Process]) -> None:
    """Kill whatever of ``processes`` still runs (a failed test must not leave them behind either)."""
    for process in _alive(processes):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue


def _start(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``python3 tasks.py ...`` in a session of its own (no terminal: signals come only from the test)."""
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "tasks.py", *command], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


# -- tasks.py lab ----------------------------------------------------------------------------------

def _api(url: str, token: str, path: str, method: str = "GET") -> dict:
    """Call JupyterLab's REST API with the token; return the decoded JSON answer."""
    request = urllib.request.Request(f"{url}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
    return json.loads(body) if body else {}


def _answers(url: str, token: str) -> bool:
    """Tell whether JupyterLab answers its status request."""
    try:
        _api(url, token, "/api/status")
        return True
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_stopping_tasks_py_lab_stops_jupyterlab_and_its_kernels(signum, tmp_path):
    """Start the lab and a kernel, signal tasks.py alone: tasks.py, JupyterLab and the kernel all end."""
    port, token, log = free_port(), secrets.token_hex(16), tmp_path / "lab.log"
    scratch = {"JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
               "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    tasks = _start(["lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                    "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"], log, scratch)
    url = f"http://127.0.0.1:{port}"
    started: list[psutil.Process] = []
    try:
        _wait_for("JupyterLab answering", lambda: tasks.poll() is not None or _answers(url, token), START_TIMEOUT, log)
        assert tasks.poll() is None, f"tasks.py lab ended early:\n{log.read_text()[-3000:]}"
        _api(url, token, "/api/kernels", method="POST")
        kernel = _wait_for("the kernel's process", lambda: [p for p in _tree(tasks.pid)
                                                             if "ipykernel_launcher" in _command(p)],
                           START_TIMEOUT, log)
        started = _tree(tasks.pid)
        assert len(started) >= 3 and kernel[0] in started  # tasks.py, JupyterLab, the kernel

        tasks.send_signal(signum)
        tasks.wait(timeout=STOP_TIMEOUT)
        assert _survivors(started) == [], f"still running after {signum.name}:\n{log.read_text()[-3000:]}"
        if signum == signal.SIGTERM:  # JupyterLab's own clean stop: it shuts its kernels down itself
            assert "Shutting down 1 kernel" in log.read_text()
    finally:
        _kill(started or (_tree(tasks.pid) if tasks.poll() is None else []))


# -- tasks.py hub ----------------------------------------------------------------------------------

def test_stopping_tasks_py_hub_stops_the_hub_and_removes_its_accounts(tmp_path):
    """A try-out hub with a student's server running: SIGTERM to tasks.py ends every process and removes the accounts."""
    problems = missing_prerequisites()
    if not os.environ.get("MNIST_DIR"):
        problems.append("set MNIST_DIR to a folder with the four MNIST files (CI: ../shared/mnist)")
    if problems:
        unavailable("stopping tasks.py hub needs: " + "; ".join(problems))
    port, log = free_port(), tmp_path / "hub.log"
    tasks = _start(["hub", "--port", str(port), "--students", "1"], log)
    started: list[psutil.Process] = []
    try:
        _wait_for("the try-out hub", lambda: tasks.poll() is not None or "Ctrl-C stops the hub" in log.read_text(),
                  START_TIMEOUT, log)
        assert tasks.poll() is None, f"tasks.py hub ended early:\n{log.read_text()[-3000:]}"
        accounts = dict(re.findall(r"^\s+(ch8-\S+)\s+password (\S+)$", log.read_text(), re.M))
        student = "ch8-student1"
        url = f"http://127.0.0.1:{port}"
        token = requests.post(f"{url}/hub/api/users/{student}/tokens", timeout=60,
                              json={"auth": {"username": student, "password": accounts[student]}}).json()["token"]
        headers = {"Authorization": f"token {token}"}
        assert requests.post(f"{url}/hub/api/users/{student}/server", headers=headers, timeout=120).status_code in (201, 202)
        _wait_for("the student's server", lambda: requests.get(f"{url}/hub/api/users/{student}", headers=headers,
                                                               timeout=30).json()["servers"].get("", {}).get("ready"),
                  START_TIMEOUT, log)
        started = _tree(tasks.pid)
        owners = set()
        for process in started:
            with contextlib.suppress(psutil.Error):  # one that ended meanwhile owns nothing
                owners.add(process.username())
        assert student in owners and "ch8-grader" in owners  # the student's server, the course's formgrader

        tasks.send_signal(signal.SIGTERM)
        tasks.wait(timeout=STOP_TIMEOUT)
        assert _survivors(started) == [], f"still running:\n{log.read_text()[-3000:]}"
        left = [entry.pw_name for entry in pwd.getpwall()
                if entry.pw_name in {*accounts, "ch8-grader"} and entry.pw_gecos.startswith(MARK)]
        assert left == [], f"accounts left behind: {left}"
        assert not (ROOT / "course" / "hub-tryout" / "class").exists()
        assert "The try-out class is gone" in log.read_text()
    finally:
        _kill(started)


# -- an interrupted test run -----------------------------------------------------------------------

def _postgres_servers(run: str) -> list[psutil.Process]:
    """Return the PostgreSQL processes the nested run ``run`` started (pg_ctl starts them in sessions of their own)."""
    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] == "postgres" and process.environ().get(NESTED_RUN) == run:
                found.append(process)
        except psutil.Error:  # ended meanwhile
            continue
    return found


def _descendants_named(root: int, word: str) -> list[psutil.Process]:
    """Return the descendants of ``root`` whose command line contains ``word``."""
    try:
        return [p for p in _tree(root)[1:] if word in _command(p)]
    except psutil.NoSuchProcess:
        return []


@pytest.fixture
def kept_browser_results(tmp_path) -> Iterator[None]:
    """Keep this run's browser screenshots and server log aside while a nested browser run writes its own."""
    kept = tmp_path / "kept-browser-results"
    if BROWSER_RESULTS.exists():
        shutil.move(BROWSER_RESULTS, kept)
    try:
        yield
    finally:
        shutil.rmtree(BROWSER_RESULTS, ignore_errors=True)
        if kept.exists():
            shutil.move(kept, BROWSER_RESULTS)


@contextmanager
def _nested_run(tmp_path: Path, select: str, server: Callable[[subprocess.Popen, str], list[psutil.Process]],
                ) -> Iterator[tuple[subprocess.Popen, list[psutil.Process], Path]]:
    """Start `python3 tasks.py test -k SELECT`, wait for its server; yield (tasks.py, what runs then, its log); kill what is left."""
    log, run = tmp_path / "nested.log", secrets.token_hex(8)
    tasks = _start(["test", "-k", select, "-p", "no:cacheprovider", "-x"], log, {NESTED_RUN: run})
    running: list[psutil.Process] = []
    try:
        servers = _wait_for(f"the nested run's server ({select})",
                            lambda: tasks.poll() is not None or server(tasks, run), APPEAR_TIMEOUT, log)
        assert tasks.poll() is None, f"the nested run ended before its server started:\n{log.read_text()[-3000:]}"
        running = [*_tree(tasks.pid), *servers]
        yield tasks, running, log
    finally:
        _kill(running or (_tree(tasks.pid) if tasks.poll() is None else []))


def _interrupt_and_check(tasks: subprocess.Popen, running: list[psutil.Process], log: Path) -> None:
    """Send SIGTERM to the nested `tasks.py test`; check that the run stopped as interrupted and nothing of it runs."""
    tasks.send_signal(signal.SIGTERM)
    code = tasks.wait(timeout=STOP_TIMEOUT)
    # pytest exits with 2 when interrupted; with 1 when the interrupt came while a test that uses
    # tmp_path was being set up (pytest's tmp_path teardown then fails on a missing report).
    assert code in (1, 2) and "KeyboardInterrupt" in log.read_text(), (
        f"the nested run was not interrupted (exit code {code}):\n{log.read_text()[-3000:]}")
    left = _survivors(running)
    assert left == [], f"left running: {left}\n{log.read_text()[-3000:]}"


def test_an_interrupted_run_stops_its_postgresql_server(tmp_path):
    """A run stopped while the PostgreSQL gradebook tests run leaves no server and no data folder."""
    if server_bin_dir() is None:
        unavailable(INSTALL_HINT)
    with _nested_run(tmp_path, "test_many_graders_at_once_lose_no_row and postgresql",
                     lambda tasks, run: _postgres_servers(run)) as (tasks, running, log):
        folders = [Path(tempfile.gettempdir()) / f"lab-postgres-{name}" for name in
                   re.findall(r"lab-postgres-(\w+)/", " ".join(_command(p) for p in _alive(running)))]
        assert folders
        _interrupt_and_check(tasks, running, log)
    assert not any(folder.exists() for folder in folders), "the server's folder was left behind"


def test_an_interrupted_run_stops_the_browser_tests_jupyterlab(tmp_path, kept_browser_results):
    """A run stopped while the browser tests start JupyterLab (python3 tasks.py lab) leaves neither running."""
    if not os.access(os.environ.get("CHROMIUM", "/usr/bin/chromium"), os.X_OK):
        unavailable("Chromium is missing (/usr/bin/chromium): sudo apt-get install chromium")
    with _nested_run(tmp_path, "test_the_practice_notebook_opens_with_nothing_over_it",
                     lambda tasks, run: _descendants_named(tasks.pid, "jupyter-lab")) as (tasks, running, log):
        _interrupt_and_check(tasks, running, log)


def test_an_interrupted_run_stops_the_class_hub_and_removes_its_accounts(tmp_path):
    """A run stopped while the class hub test runs leaves no hub, proxy or server, and none of its accounts."""
    problems = missing_prerequisites()
    if problems or not os.environ.get("MNIST_DIR"):
        unavailable("the class hub test needs: " + "; ".join(problems or ["MNIST_DIR"]))
    with _nested_run(tmp_path, "test_people_log_in_with_their_system_password",
                     lambda tasks, run: _descendants_named(tasks.pid, "bin/jupyterhub ")) as (tasks, running, log):
        makers = {str(p.pid) for p in running if "pytest" in _command(p)}
        assert makers and any(entry.pw_gecos.startswith(MARK) and entry.pw_gecos.split()[-1] in makers
                              for entry in pwd.getpwall()), "the nested run made no accounts to remove"
        _interrupt_and_check(tasks, running, log)
    left = [entry.pw_name for entry in pwd.getpwall()
            if entry.pw_gecos.startswith(MARK) and entry.pw_gecos.split()[-1] in makers]
    assert left == [], f"accounts left behind: {left}"
