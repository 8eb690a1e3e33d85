"""The gradebook under concurrency: several graders writing at once lose and corrupt nothing.

Both databases a course can use are tested for real: the SQLite file the course sets up by
default, and PostgreSQL (a server the tests start themselves, tests/postgres_server.py), chosen
the way an instructor chooses it, with LAB_GRADEBOOK_URL. The writers are separate processes that
go through nbgrader's own API after loading the course's nbgrader_config.py, as nbgrader does.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import autograde, grade_written_answers
from gradebook_writers import COURSE_ID, expected_score, run_writers
from instructor.course import (ASSIGNMENT, gradebook_url, make_scratch_course, max_points, nbgrader,
                               solution_answers, write_complete_submission, write_submission)
from instructor.gradebook import URL_VARIABLE, gradebook_rows, network_file_system, postgres_url
from mutants import MUTANTS
from postgres_server import SUPERUSER

WRITERS = 4  # processes writing at once (on 2 cores they really interleave)
STUDENTS_EACH = 3  # each about 26 commits, one per graded cell and answer cell, as nbgrader autograde makes them
WRITERS_TIMEOUT = 600  # seconds for all writers together (a few seconds when the machine is idle)


def _choose_gradebook(request, monkeypatch, database: str) -> None:
    """Point the course at a new PostgreSQL database named ``database``, or at its SQLite file."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        monkeypatch.setenv(URL_VARIABLE, server.create_database(database.lower()))
    else:
        monkeypatch.delenv(URL_VARIABLE, raising=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def released_course(request, tmp_path, monkeypatch) -> Path:
    """Return a scratch course released into an empty gradebook of each kind (PostgreSQL: via LAB_GRADEBOOK_URL)."""
    _choose_gradebook(request, monkeypatch, f"writers_{tmp_path.name}")
    course = make_scratch_course(tmp_path / "course")
    released = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert released.returncode == 0, released.stderr[-3000:]
    return course


def test_many_graders_at_once_lose_no_row(released_course):
    """4 processes write 12 students' submissions, grades and comments at once: every row is there, intact."""
    from nbgrader.api import Gradebook

    outcome = run_writers(released_course, WRITERS, STUDENTS_EACH, WRITERS_TIMEOUT)
    failed = {writer: result for writer, (result, _) in outcome.items() if result != "ok"}
    assert not failed, "writers failed:\n" + "\n".join(failed.values())
    assert len(outcome) == WRITERS

    db_url = gradebook_url(released_course)
    with Gradebook(db_url, COURSE_ID) as gb:
        students = {s.id for s in gb.students}
        assert students == {f"writer{w}_student{k}" for w in range(WRITERS) for k in range(STUDENTS_EACH)}
        assignment = gb.find_assignment(ASSIGNMENT)
        assert len(assignment.submissions) == WRITERS * STUDENTS_EACH
        cells = {(nb.name, cell.name): cell.max_score for nb in assignment.notebooks for cell in nb.grade_cells}
        assert cells, "the released assignment has graded cells"
        for student in students:
            submission = gb.find_submission(ASSIGNMENT, student)
            grades = {(nb.name, g.name): g.auto_score for nb in submission.notebooks for g in nb.grades}
            assert grades == {key: expected_score(student, key[1], top) for key, top in cells.items()}, student
            comments = {c.auto_comment for nb in submission.notebooks for c in nb.comments}
            assert comments == {f"{student} wrote {c.name}" for nb in assignment.notebooks for c in nb.solution_cells}
            assert submission.score == sum(grades.values())

    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == ("delete" if network_file_system(path) else "wal")
    else:
        assert db_url.startswith("postgresql+psycopg://")
        assert not (released_course / "course" / "gradebook.db").exists(), "nbgrader wrote to SQLite instead"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_course(request, tmp_path, monkeypatch) -> Path:
    """Return a scratch course whose gradebook does not exist yet (PostgreSQL: an empty database)."""
    _choose_gradebook(request, monkeypatch, f"empty_{tmp_path.name}")
    return make_scratch_course(tmp_path / "course")


def test_gradebook_command_creates_the_tables_and_says_which_database(empty_course):
    """`python -m instructor.gradebook`, run once before several graders start, sets the database up and names it."""
    shown = subprocess.run([sys.executable, "-m", "instructor.gradebook"], cwd=empty_course,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "0 students, 0 assignments, 0 submissions" in shown.stdout
    db_url = gradebook_url(empty_course)
    if db_url.startswith("sqlite"):
        assert "SQLite file" in shown.stdout and "journal mode wal" in shown.stdout
    else:
        assert "postgresql database" in shown.stdout and "on 127.0.0.1" in shown.stdout
    from sqlalchemy import create_engine, inspect

    engine = create_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"student", "assignment", "grade", "comment", "alembic_version"} <= tables
    finally:
        engine.dispose()


def test_gradebook_command_explains_an_unreachable_database(tmp_path, monkeypatch):
    """A PostgreSQL URL nobody answers on gives a message saying what to check, not a traceback."""
    monkeypatch.setenv(URL_VARIABLE, "postgresql://grader@127.0.0.1:9/ch8")  # port 9: nothing listens
    course = make_scratch_course(tmp_path / "course")
    shown = subprocess.run([sys.executable, "-m", "instructor.gradebook"], cwd=course,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 1
    assert "cannot be opened" in shown.stderr and URL_VARIABLE in shown.stderr
    assert "Traceback" not in shown.stderr


def test_network_file_systems_are_recognised(tmp_path):
    """The innermost mount holding a path decides: an NFS or SMB share is network, the disk under it is not."""
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/vda / ext4 rw 0 0\n"
                      "server:/export /srv/courses nfs4 rw 0 0\n"
                      "//files/share /mnt/my\\040share cifs rw 0 0\n"
                      "/dev/vdb /srv/courses/local ext4 rw 0 0\n")
    assert network_file_system("/srv/courses/ch8/course", str(mounts)) == "nfs4"
    assert network_file_system("/mnt/my share/ch8", str(mounts)) == "cifs"
    assert network_file_system("/srv/courses/local/ch8", str(mounts)) is None
    assert network_file_system("/srv/courses2", str(mounts)) is None
    assert network_file_system("/home/me", str(tmp_path / "no such file")) is None


def test_postgres_urls_name_the_installed_driver():
    """postgresql:// and postgres:// (as hosting services write them) both mean psycopg 3; others stay."""
    assert postgres_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert postgres_url("postgres://u:pw@h:5433/db") == "postgresql+psycopg://u:pw@h:5433/db"
    assert postgres_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert postgres_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


STUDENTS = ("complete", "summed_error", "blank")


def test_autograde_on_postgresql_stores_what_sqlite_stores(postgres, graded_class, tmp_path, monkeypatch):
    """The same submissions autograded with the gradebook on PostgreSQL give exactly the SQLite gradebook's rows."""
    sqlite_url = gradebook_url(graded_class)  # the session's class, graded on SQLite (tests/conftest.py)
    assert sqlite_url.startswith("sqlite")
    postgres.create_database("autograde")
    # Written as an instructor would write it: postgresql://, no driver named.
    monkeypatch.setenv(URL_VARIABLE, f"postgresql://{SUPERUSER}@127.0.0.1:{postgres.port}/autograde")
    course = make_scratch_course(tmp_path / "course")
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    # The same submissions as these students' in the graded class (tests/conftest.py, write_class).
    answers = solution_answers(course)
    write_complete_submission(course, "complete")
    mutant = MUTANTS["summed_error"]
    write_submission(course, "summed_error", mutant.notebook, {**answers[mutant.notebook], mutant.cell: mutant.code})
    for notebook in answers:
        write_submission(course, "blank", notebook)
    graded = autograde(course, "--jobs", "2")  # the lab's runner, two graders writing at once
    assert graded.returncode == 0, (graded.stdout + graded.stderr)[-3000:]
    grade_written_answers(course, list(STUDENTS))  # and by hand, as the graded class was (tests/written_answers.py)

    postgres_db = gradebook_url(course)
    assert postgres_db.startswith("postgresql+psycopg://") and postgres_db.endswith("/autograde")
    assert not (course / "course" / "gradebook.db").exists(), "nbgrader wrote to SQLite instead"
    for student in STUDENTS:
        on_postgres = gradebook_rows(postgres_db, COURSE_ID, ASSIGNMENT, student)
        assert {row[1:3] for row in on_postgres if row[0] == "grade"} == set(max_points(course)), student
        assert on_postgres == gradebook_rows(sqlite_url, COURSE_ID, ASSIGNMENT, student), student
