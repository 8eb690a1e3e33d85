"""End to end: release, autograde a class of realistic submissions, feedback and grades.

The session's graded class (tests/conftest.py: one scratch course, every submission graded by one
`python3 tasks.py autograde` run on all cores), then many small assertions on the results.
"""
from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from helpers.grading import HIDDEN_NOTE
from instructor.course import ASSIGNMENT, cell_scores, feedback_text, marked_lines, max_points, page_text
from mutants import ALTERNATIVES, MUTANTS, NB1, NB2


@pytest.fixture(scope="module")
def course(graded_class) -> Path:
    """The class graded once for the whole test session (tests/conftest.py)."""
    return graded_class

def test_complete_submission_gets_full_marks(course):
    """The solutions' answers pasted into the practice copies earn every point."""
    scores = cell_scores(course, "complete")
    expected = max_points(course)
    assert set(scores) == set(expected)
    lost = {cell: score for cell, score in scores.items() if score[0] != score[1]}
    assert not lost, f"a correct answer lost points: {lost}"
    assert sum(expected.values()) == 37


def test_untouched_copy_gets_zero_everywhere(course):
    """A practice copy handed in as released scores 0 on every graded cell."""
    scores = cell_scores(course, "blank")
    assert set(scores) == set(max_points(course))
    assert all(score == 0 for score, _ in scores.values()), scores


@pytest.mark.parametrize("notebook", sorted(ALTERNATIVES))
def test_correct_answers_written_differently_get_full_marks(course, notebook):
    """Another vectorisation, a boolean mask from another coin, a patience counter, a while loop: all full marks."""
    scores = {cell: s for (nb, cell), s in cell_scores(course, f"other_way_{notebook}").items() if nb == notebook}
    assert scores and all(score == maximum for score, maximum in scores.values()), scores


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_each_mistake_loses_exactly_its_checks_and_is_named(course, name):
    """A submission with one typical mistake loses the points of the checks aimed at it, no others."""
    mutant = MUTANTS[name]
    scores = {cell: s for (nb, cell), s in cell_scores(course, name).items() if nb == mutant.notebook}
    failed = {cell for cell, (score, maximum) in scores.items() if score < maximum}
    assert failed == set(mutant.fails), f"{name}: failed {sorted(failed)}, expected {sorted(mutant.fails)}"
    assert all(scores[cell][0] == 0 for cell in mutant.fails)
    assert mutant.message in feedback_text(course, name, mutant.notebook)


def test_endless_loop_is_cut_off_and_graded(course):
    """A placeholder that never returns is interrupted; its checks score 0, the others still count."""
    scores = {cell: s for (nb, cell), s in cell_scores(course, "endless_loop").items() if nb == NB2}
    assert scores["nb02-test-validation"][0] == 0
    assert all(score == maximum for cell, (score, maximum) in scores.items() if cell != "nb02-test-validation")
    # Grading went on with the students after this one.
    assert cell_scores(course, "right_but_deleted_cell")


def test_a_loop_called_by_every_check_is_cut_off_by_the_notebook_budget(course):
    """An endless evaluate() is called by 5 checks and the training: the notebook's budget stops it all."""
    scores = {cell: s for (nb, cell), s in cell_scores(course, "endless_test_loop").items() if nb == NB1}
    assert len(scores) == 5 and all(score == 0 for score, _ in scores.values())
    assert "did not finish" in feedback_text(course, "endless_test_loop", NB1)


@pytest.mark.parametrize("student", ["deleted_test_cell", "edited_test_cell"])
def test_original_tests_run_when_a_student_deletes_or_edits_them(course, student):
    """Deleting or editing a locked test cell does not dodge it: nbgrader runs the original."""
    scores = cell_scores(course, student)
    assert scores[(NB1, "nb01-test-error")] == (0, 2)
    assert scores[(NB1, "nb01-test-accuracy")] == (2, 2)
    assert "is the SUM over" in feedback_text(course, student, NB1)


def test_deleting_the_answer_and_its_test_still_grades_the_notebook(course):
    """With the answer cell gone too, the restored tests run (and fail) instead of crashing nbgrader."""
    scores = {cell: s for (nb, cell), s in cell_scores(course, "deleted_answer_and_test").items() if nb == NB1}
    assert scores["nb01-test-error"] == (0, 2) and scores["nb01-test-accuracy"] == (0, 2)
    assert "evaluate" in feedback_text(course, "deleted_answer_and_test", NB1)


def test_restored_cell_of_a_right_answer_earns_its_points(course):
    """A deleted test cell is put back and a correct answer passes it."""
    scores = {cell: s for (nb, cell), s in cell_scores(course, "right_but_deleted_cell").items() if nb == NB1}
    assert scores["nb01-test-accuracy"] == (2, 2)
    assert all(score == maximum for score, maximum in scores.values())


def test_feedback_never_shows_hidden_tests(course):
    """No feedback page contains a line of a hidden test (nbgrader prints them by default)."""
    hidden_lines = {line for path in (course / "solutions" / ASSIGNMENT).glob("*.ipynb")
                    for cell in nbformat.read(path, as_version=4).cells
                    for line in marked_lines(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
                    if len(line) > 25}
    assert len(hidden_lines) > 20
    pages = sorted((course / "course" / "feedback").rglob("*.html"))
    assert len(pages) >= 4 + 4 + len(MUTANTS)
    for page in pages:
        text = page_text(page)
        leaked = [line for line in hidden_lines if " ".join(line.split()) in text]
        assert not leaked, f"{page.name} shows hidden test code: {leaked[:3]}"


def test_feedback_shows_verdicts_not_the_hidden_checks_line(course):
    """The line a hidden check prints in a student's own run is never printed while grading (the check
    runs in the grader): on a feedback page it appears only where the notebook's text explains it."""
    graded = sorted((course / "course" / "autograded").rglob("*.ipynb"))
    printed = [(path.parent.parent.name, cell.id) for path in graded for cell in nbformat.read(path, as_version=4).cells
               if cell.cell_type == "code" and any(HIDDEN_NOTE in output.get("text", "") for output in cell.outputs)]
    assert len(graded) > 100 and not printed, printed[:5]
    explained = {path.stem: " ".join(" ".join(cell.source for cell in nbformat.read(path, as_version=4).cells
                                              if cell.cell_type == "markdown").split()).count(HIDDEN_NOTE)
                 for path in (course / "notebooks" / ASSIGNMENT).glob("*.ipynb")}
    assert explained["01_overfitting"] == 2  # the introduction and "Check yourself" say what the line means
    for page in sorted((course / "course" / "feedback").rglob("*.html")):
        assert page_text(page).count(HIDDEN_NOTE) == explained[page.stem], page
    assert "Mean error: OK" in feedback_text(course, "complete", NB1)


def test_grades_export_to_csv_with_the_right_totals(course):
    """grades.csv holds one row per student with the score the gradebook holds."""
    with open(course / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    total = sum(max_points(course).values())
    assert float(rows["complete"]["score"]) == total == float(rows["complete"]["max_score"])
    assert float(rows["blank"]["score"]) == 0
    for name, mutant in MUTANTS.items():
        scores = cell_scores(course, name)
        assert float(rows[name]["score"]) == sum(score for score, _ in scores.values())


def test_autograde_log_is_clean(course):
    """No SQLAlchemy warnings (sqlalchemy<2.1) and no submission nbgrader failed on, crashes included."""
    logs = [(course / "autograde.log").read_text()]
    logs += [path.read_text() for path in (course / "course" / "grading_status").glob("*/autograde.log")]
    assert len(logs) > 30
    assert not any("SAWarning" in log for log in logs)
    assert not any("There was an error processing" in log for log in logs)


def test_validate_flags_a_blank_copy_and_passes_a_complete_one(course):
    """What students get from `nbgrader validate` (its exit code is always 0, so ask its Python API)."""
    from nbgrader.validator import Validator

    blank = Validator().validate(str(course / "notebooks" / ASSIGNMENT / f"{NB2}.ipynb"))
    assert len(blank.get("failed", [])) == 3  # the visible checks; hidden ones are not in the copy
    assert any("not written yet" in " ".join(failure["raw_error"].split()) for failure in blank["failed"])
    done = Validator().validate(str(course / "course" / "submitted" / "complete" / ASSIGNMENT / f"{NB2}.ipynb"))
    assert done == {}
