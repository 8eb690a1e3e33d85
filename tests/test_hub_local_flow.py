"""Beside the class hub, the one-machine flows keep working: nbgrader's exchange in course/exchange
(release, fetch, submit, collect, as on a fresh clone); LMS downloads are tests/test_lms.py's.
Nothing is graded here (tests/test_hub.py and the pipeline tests grade): only where files go.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from instructor.course import ASSIGNMENT, ROOT, make_scratch_course, nbgrader, notebook_names

NOTEBOOKS = notebook_names(ROOT)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """Return a scratch course in a fresh clone's layout: solutions/, the committed student copies, settings."""
    course = make_scratch_course(tmp_path_factory.mktemp("local") / "course")
    shutil.copytree(ROOT / "notebooks", course / "notebooks")
    return course


def test_the_exchange_in_course_works_on_a_fresh_clone(course, tmp_path, monkeypatch):
    """Release to course/exchange, fetch and submit as a student, collect into course/submitted."""
    monkeypatch.delenv("CH8_EXCHANGE", raising=False)
    released = nbgrader(course, "release_assignment", ASSIGNMENT)
    assert released.returncode == 0, released.stderr[-2000:]
    assert (course / "course" / "exchange").stat().st_mode & 0o777 == 0o777
    home = tmp_path / "student"
    home.mkdir()
    # The student's nbgrader finds the course's exchange through the course's settings file.
    (home / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(course / 'course' / 'exchange')!r}\n"
                                             "c.CourseDirectory.course_id = 'grokking-ch8'\n")
    for step in (["fetch_assignment", ASSIGNMENT], ["submit", ASSIGNMENT]):
        done = nbgrader(home, *step)
        assert done.returncode == 0, f"{step}: {done.stderr[-2000:]}"
    collected = nbgrader(course, "collect", ASSIGNMENT)
    assert collected.returncode == 0, collected.stderr[-2000:]
    (submitted,) = (course / "course" / "submitted").iterdir()
    assert sorted(p.stem for p in (submitted / ASSIGNMENT).glob("*.ipynb")) == NOTEBOOKS
