"""Shared test fixtures: one class of submissions, graded once for the whole session.

Every nbgrader command costs seconds of start-up and every submission seconds of grading, so
the tests that look at grades, feedback, the integrity scan or the class report all read the
same graded class instead of grading their own.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from instructor.course import (ASSIGNMENT, make_scratch_course, nbgrader, solution_answers, write_complete_submission,
                               write_submission)
from mutants import ALTERNATIVES, ENDLESS_EVALUATE, ENDLESS_LOOP, MUTANTS, NB1, NB2
from odd_answers import ODD_ANSWERS

TIMEOUT = 15  # seconds per cell for this run (the course uses 60): a correct answer's cells need < 5 s
NOTEBOOK_TIMEOUT = 40  # seconds per notebook (the course uses 300): a correct one needs < 10 s


def write_class(course: Path) -> None:
    """Write the synthetic class into ``course``: right, blank, wrong, odd and hostile submissions."""
    answers = solution_answers(course)
    write_complete_submission(course, "complete")
    for notebook in answers:
        write_submission(course, "blank", notebook)
    for name, mutant in MUTANTS.items():
        write_submission(course, name, mutant.notebook, {**answers[mutant.notebook], mutant.cell: mutant.code})
    for notebook, code in ALTERNATIVES.items():
        write_submission(course, f"other_way_{notebook}", notebook, {**answers[notebook], **code})
    write_submission(course, "endless_loop", NB2, {**answers[NB2], "nb02-validation-accuracy": ENDLESS_LOOP})
    write_submission(course, "endless_test_loop", NB1, {**answers[NB1], "nb01-evaluate": ENDLESS_EVALUATE})
    wrong = {**answers[NB1], "nb01-evaluate": MUTANTS["summed_error"].code}
    write_submission(course, "deleted_test_cell", NB1, wrong, edit={"nb01-test-error": None})
    write_submission(course, "edited_test_cell", NB1, wrong, edit={"nb01-test-error": "print('all good')"})
    write_submission(course, "right_but_deleted_cell", NB1, answers[NB1], edit={"nb01-test-accuracy": None})
    write_submission(course, "deleted_answer_and_test", NB1, answers[NB1],
                     edit={"nb01-evaluate": None, "nb01-test-error": None, "nb01-checks-md": None})
    for name, odd in ODD_ANSWERS.items():  # tests/test_odd_answers.py
        write_submission(course, name, odd.notebook, {**answers[odd.notebook], **odd.answers})


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory) -> Path:
    """Return a scratch course in which the whole synthetic class was autograded, given feedback and exported."""
    course = make_scratch_course(tmp_path_factory.mktemp("course"))
    released = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert released.returncode == 0, released.stderr
    write_class(course)
    graded = nbgrader(course, "autograde", ASSIGNMENT, f"--Execute.timeout={TIMEOUT}",
                      f"--NotebookTimeLimit.notebook_timeout={NOTEBOOK_TIMEOUT}")
    (course / "autograde.log").write_text(graded.stdout + graded.stderr)
    assert graded.returncode == 0, graded.stderr[-3000:]
    feedback = nbgrader(course, "generate_feedback", ASSIGNMENT)
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    exported = nbgrader(course, "export", "--to", "grades.csv")
    assert exported.returncode == 0, exported.stderr[-3000:]
    return course
