"""Shared test fixtures: one class of submissions, graded once for the whole session.

Every nbgrader command costs seconds of start-up and every submission seconds of grading, so
the tests that look at grades, feedback, the integrity scan or the class report all read the
same graded class instead of grading their own.
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from instructor.course import (ASSIGNMENT, make_scratch_course, nbgrader, solution_answers, write_complete_submission,
                               write_submission)
from instructor.settings import course_settings
from instructor.written import grade_by_hand
from hostile import HOSTILE, write_hostile
from mutants import ALTERNATIVES, ENDLESS_EVALUATE, ENDLESS_LOOP, MUTANTS, NB1, NB2
from odd_answers import ODD_ANSWERS
from postgres_server import INSTALL_HINT, PostgresServer, server_bin_dir
from sealed import NB1 as PROBED, PROBES, probe_code
from written_answers import HAND_GRADES, WRONG, WRONG_STUDENT

TIMEOUT = 15  # seconds per cell for this run (the course uses 60): a correct answer's cells need < 5 s
NOTEBOOK_TIMEOUT = 40  # seconds per notebook (the course uses 300): a correct one needs < 10 s


class Listener:
    """A TCP port on 127.0.0.1 that records every connection made to it (the probes must make none)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections: list[tuple[str, int]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        """Record connections until the socket is closed."""
        while True:
            try:
                connection, peer = self.socket.accept()
            except OSError:
                return
            self.connections.append(peer)
            connection.close()


PROBE_MARKER = "ch8probe" + os.urandom(4).hex()  # in every file name and command line a probe leaves
PROBE_SECRET = "CH8_GRADER_SECRET"  # an environment variable of the grader that no kernel may see


def unavailable(message: str) -> None:
    """Skip with ``message`` (which says what to install); in CI (CI=true) fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def write_class(course: Path, port: int = 9) -> None:
    """Write the synthetic class into ``course``: right, blank, wrong, odd, hostile and probing submissions."""
    answers = solution_answers(course)
    write_complete_submission(course, "complete")
    for notebook in answers:
        write_submission(course, "blank", notebook)
    for name, mutant in MUTANTS.items():
        write_submission(course, name, mutant.notebook, {**answers[mutant.notebook], mutant.cell: mutant.code})
    for notebook, code in ALTERNATIVES.items():
        written = WRONG if f"other_way_{notebook}" == WRONG_STUDENT else {}  # tests/written_answers.py
        write_submission(course, f"other_way_{notebook}", notebook, {**answers[notebook], **code, **written})
    write_submission(course, "endless_loop", NB2, {**answers[NB2], "nb02-validation-accuracy": ENDLESS_LOOP})
    write_submission(course, "endless_test_loop", NB1, {**answers[NB1], "nb01-evaluate": ENDLESS_EVALUATE})
    wrong = {**answers[NB1], "nb01-evaluate": MUTANTS["summed_error"].code}
    write_submission(course, "deleted_test_cell", NB1, wrong, edit={"nb01-test-error": None})
    write_submission(course, "edited_test_cell", NB1, wrong, edit={"nb01-test-error": "print('all good')"})
    write_submission(course, "right_but_deleted_cell", NB1, answers[NB1], edit={"nb01-test-accuracy": None})
    write_submission(course, "deleted_answer_and_test", NB1, answers[NB1],
                     edit={"nb01-evaluate": None, "nb01-test-error": None, "nb01-checks-md": None})
    for name, hostile in HOSTILE.items():
        write_hostile(course, name, hostile)
    for name, odd in ODD_ANSWERS.items():  # tests/test_odd_answers.py
        write_submission(course, name, odd.notebook, {**answers[odd.notebook], **odd.answers})
    for name in PROBES:  # tests/test_sealed_grading.py
        code = probe_code(name, str(course), port, PROBE_MARKER, PROBE_SECRET)
        write_submission(course, name, PROBED, {**answers[PROBED], "nb01-evaluate": code})


def grade_written_answers(course: Path, students: list[str] | None = None) -> None:
    """Grade by hand, as a grader in the formgrader would, the written answers HAND_GRADES lists (of ``students``)."""
    settings = course_settings(course)
    for grade in HAND_GRADES:
        if students is None or grade.student in students:
            grade_by_hand(settings, grade.student, grade.notebook, grade.question, grade.points, grade.comment)


def autograde(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m instructor.autograde` (what `python3 tasks.py autograde` runs) on ``course``."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
               JUPYTER_PREFER_ENV_PATH="1", **{PROBE_SECRET: PROBE_MARKER + "-secret"})
    return subprocess.run([sys.executable, "-m", "instructor.autograde", "--course", str(course), *args,
                           f"--Execute.timeout={TIMEOUT}", f"--GradingExecute.notebook_timeout={NOTEBOOK_TIMEOUT}"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=3600)


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> Path:
    """Return a scratch course in which the whole synthetic class was autograded, partly graded by hand (the
    written answers of tests/written_answers.py), given feedback and exported."""
    course = make_scratch_course(tmp_path_factory.mktemp("course"))
    released = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert released.returncode == 0, released.stderr
    listener = Listener()
    write_class(course, listener.port)
    graded = autograde(course, "--jobs", "2")
    listener.socket.close()
    (course / "probe_connections.json").write_text(json.dumps(listener.connections))
    (course / "autograde.log").write_text(graded.stdout + graded.stderr)
    assert graded.returncode == 0, (graded.stdout + graded.stderr)[-3000:]
    grade_written_answers(course)
    feedback = nbgrader(course, "generate_feedback", ASSIGNMENT)
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    exported = nbgrader(course, "export", "--to", "grades.csv")
    assert exported.returncode == 0, exported.stderr[-3000:]
    return course


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """Return a PostgreSQL server of the tests' own on 127.0.0.1, shared by the session, removed at its end."""
    missing = INSTALL_HINT if server_bin_dir() is None else None
    if importlib.util.find_spec("psycopg") is None:
        missing = "The psycopg driver is not installed: run `python3 tasks.py setup` (requirements.txt lists it)."
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)  # CI installs it (.ci/run): a missing server there is a broken set-up
        pytest.skip(missing)
    server = PostgresServer(server_bin_dir())
    try:
        yield server.start()
    finally:
        server.remove()


def _stop_like_ctrl_c(signum: int, frame) -> None:
    """Turn the first SIGTERM or SIGHUP into the KeyboardInterrupt that Ctrl-C gives; ignore later ones."""
    for name in ("SIGTERM", "SIGHUP"):  # a second one (a terminal's and tasks.py's) would cut the teardown short
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise KeyboardInterrupt


def pytest_configure(config):
    """A run stopped by a signal (a process manager, a closed terminal, tasks.py passing it on) still tears its
    fixtures down, so that no PostgreSQL, JupyterHub or JupyterLab the tests started keeps running."""
    if hasattr(signal, "SIGHUP"):  # POSIX; elsewhere only Ctrl-C stops a run
        for name in ("SIGTERM", "SIGHUP"):
            signal.signal(getattr(signal, name), _stop_like_ctrl_c)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the PostgreSQL server's log to the report of a failed test that used the server."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("postgres")
    if report.failed and isinstance(server, PostgresServer):
        report.sections.append(("PostgreSQL server log (last 5000 characters)", server.log()[-5000:]))
