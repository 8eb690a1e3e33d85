"""End to end: release, autograde a class of realistic submissions, feedback and grades.

The session's graded class (tests/conftest.py: one scratch course, every submission graded by one
`python3 tasks.py autograde` run on all cores, some written answers then graded by hand through
nbgrader's API as tests/written_answers.py says), then many small assertions on the results.
"""
from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from helpers.grading import HIDDEN_NOTE
from instructor.course import (ASSIGNMENT, cell_scores, check_points, feedback_text, gradebook_url, marked_lines,
                               max_points, page_text, written_points)
from instructor.settings import course_settings
from instructor.written import answers
from mutants import ALTERNATIVES, MUTANTS, NB1, NB2
from written_answers import HAND_GRADES, WRONG_STUDENT


@pytest.fixture(scope="module")
def course(graded_class) -> Path:
    """The class graded once for the whole test session (tests/conftest.py)."""
    return graded_class


def check_scores(course: Path, student: str, notebook: str) -> dict[str, tuple[float, float]]:
    """Return {grade_id: (score, max_score)} of the autograded checks of one student's notebook."""
    checks = check_points(course)
    return {cell: score for (nb, cell), score in cell_scores(course, student).items()
            if nb == notebook and (nb, cell) in checks}


def test_complete_submission_gets_full_marks(course):
    """The solutions' answers pasted into the practice copies earn every point: the checks' when autograded, the
    written answers' (the model answers) once a grader gave them."""
    scores = cell_scores(course, "complete")
    expected = max_points(course)
    assert set(scores) == set(expected)
    lost = {cell: score for cell, score in scores.items() if score[0] != score[1]}
    assert not lost, f"a correct answer lost points: {lost}"
    assert sum(check_points(course).values()) == 37 and sum(expected.values()) == 53


def test_untouched_copy_gets_zero_everywhere(course):
    """A practice copy handed in as released scores 0 on every graded cell."""
    scores = cell_scores(course, "blank")
    assert set(scores) == set(max_points(course))
    assert all(score == 0 for score, _ in scores.values()), scores


@pytest.mark.parametrize("notebook", sorted(ALTERNATIVES))
def test_correct_answers_written_differently_get_full_marks(course, notebook):
    """Another vectorisation, a boolean mask from another coin, a patience counter, a while loop: all full marks."""
    scores = check_scores(course, f"other_way_{notebook}", notebook)
    assert scores and all(score == maximum for score, maximum in scores.values()), scores


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_each_mistake_loses_exactly_its_checks_and_is_named(course, name):
    """A submission with one typical mistake loses the points of the checks aimed at it, no others."""
    mutant = MUTANTS[name]
    scores = check_scores(course, name, mutant.notebook)
    failed = {cell for cell, (score, maximum) in scores.items() if score < maximum}
    assert failed == set(mutant.fails), f"{name}: failed {sorted(failed)}, expected {sorted(mutant.fails)}"
    assert all(scores[cell][0] == 0 for cell in mutant.fails)
    assert mutant.message in feedback_text(course, name, mutant.notebook)


def test_endless_loop_is_cut_off_and_graded(course):
    """A placeholder that never returns is interrupted; its checks score 0, the others still count."""
    scores = check_scores(course, "endless_loop", NB2)
    assert scores["nb02-test-validation"][0] == 0
    assert all(score == maximum for cell, (score, maximum) in scores.items() if cell != "nb02-test-validation")
    # Grading went on with the students after this one.
    assert cell_scores(course, "right_but_deleted_cell")


def test_a_loop_called_by_every_check_is_cut_off_by_the_notebook_budget(course):
    """An endless evaluate() is called by 5 checks and the training: the notebook's budget stops it all."""
    scores = check_scores(course, "endless_test_loop", NB1)
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
    scores = check_scores(course, "deleted_answer_and_test", NB1)
    assert scores["nb01-test-error"] == (0, 2) and scores["nb01-test-accuracy"] == (0, 2)
    assert "evaluate" in feedback_text(course, "deleted_answer_and_test", NB1)


def test_restored_cell_of_a_right_answer_earns_its_points(course):
    """A deleted test cell is put back and a correct answer passes it."""
    scores = check_scores(course, "right_but_deleted_cell", NB1)
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
    def explained(path: Path) -> int:
        """Return how often the notebook's own text quotes the line (to explain it)."""
        return " ".join(" ".join(cell.source for cell in nbformat.read(path, as_version=4).cells
                                 if cell.cell_type == "markdown").split()).count(HIDDEN_NOTE)

    # the introduction and "Check yourself" say what the line means
    assert explained(course / "notebooks" / ASSIGNMENT / f"{NB1}.ipynb") == 2
    pages = sorted((course / "course" / "feedback").rglob("*.html"))
    for page in pages:  # a student may have deleted a Markdown cell: their own notebook's text counts
        student = page.relative_to(course / "course" / "feedback").parts[0]
        autograded = course / "course" / "autograded" / student / ASSIGNMENT / f"{page.stem}.ipynb"
        assert page_text(page).count(HIDDEN_NOTE) == explained(autograded), page
    assert len(pages) > 100
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
    # the visible checks (hidden ones are not in the copy), then the two written answers still to write
    errors = [" ".join(failure["raw_error"].split()) for failure in blank.get("failed", [])]
    assert len(errors) == 3 + 2 and errors.count("You did not provide a response.") == 2, errors
    assert any("not written yet" in error for error in errors)
    done = Validator().validate(str(course / "course" / "submitted" / "complete" / ASSIGNMENT / f"{NB2}.ipynb"))
    assert done == {}


# ------------------------------------------------------------------------- written answers, by hand

def test_autograde_leaves_written_answers_to_a_person_and_says_how_many(course):
    """Autograding gives the written answers no points: the answered ones wait for a grader, the summary says how
    many (and how many were left blank), and only the grades given by hand afterwards moved any."""
    found = answers(course_settings(course))
    states = {(a.student, a.notebook, a.question): a.state for a in found}
    graded = {(g.student, g.notebook, g.question) for g in HAND_GRADES}
    assert {key for key, state in states.items() if state == "graded"} == graded
    waiting, blank = list(states.values()).count("waiting"), list(states.values()).count("blank")
    assert waiting > 100 and blank >= len(written_points(course))  # the untouched copy's, at least
    log = (course / "autograde.log").read_text()
    assert (f"Written answers: {waiting + len(graded)} waiting for grading by hand (formgrader, Manual Grading), "
            f"0 graded, {blank} left blank") in log


def test_a_blank_written_answer_is_marked_as_such_for_the_grader(course):
    """The placeholder handed in as it was: 0 points without grading, and "No response." where the grader (and
    then the student) reads the comment."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(course)) as gb:
        for notebook, question in written_points(course):
            grade = gb.find_grade(question, notebook, ASSIGNMENT, "blank")
            comment = gb.find_comment(question, notebook, ASSIGNMENT, "blank")
            assert (grade.auto_score, grade.manual_score, grade.needs_manual_grade) == (0, None, False)
            assert comment.auto_comment == "No response." and comment.manual_comment is None
    assert "Comments: No response." in feedback_text(course, "blank", NB1)


@pytest.mark.parametrize("grade", HAND_GRADES, ids=lambda g: f"{g.student}-{g.question}")
def test_points_and_comment_given_by_hand_are_on_the_feedback_page(course, grade):
    """Each grade given by hand shows on the student's page: the written response's score and the comment."""
    text = feedback_text(course, grade.student, grade.notebook)
    assert f"Written response (Score: {grade.points:.1f} / 2.0)" in text
    comment = " ".join(grade.comment.replace("`", "").split())  # the page renders the comment's Markdown
    assert f"Comments: {comment}" in text


def test_the_export_counts_the_points_given_by_hand(course):
    """grades.csv: the complete student has all 53 points, the one graded partly has its checks plus 1 point by
    hand, and a student whose answers still wait has only the checks' points."""
    with open(course / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert rows["complete"] == 53
    by_hand = sum(g.points for g in HAND_GRADES if g.student == WRONG_STUDENT)
    assert by_hand == 1
    checks = sum(s for s, _ in check_scores(course, WRONG_STUDENT, "03_dropout").values())
    assert rows[WRONG_STUDENT] == checks + by_hand == 10 + 1
    assert rows["other_way_04_minibatch"] == sum(s for s, _ in check_scores(course, "other_way_04_minibatch",
                                                                                 "04_minibatch").values()) == 8


def test_no_feedback_page_shows_a_model_answer_label_or_a_rubric(course):
    """The rubric stays in the source notebooks: no feedback page has a rubric's or a model answer's words."""
    pages = sorted((course / "course" / "feedback").rglob("*.html"))
    assert len(pages) > 100
    for page in pages:
        text = page_text(page)
        assert not any(words in text for words in ("Rubric (2 points)", "Write back:", "Instructors only")), page
