"""Odd answers lose their checks with a sentence a beginner can act on, never a traceback.

The submissions of tests/odd_answers.py are graded with the rest of the session's class
(tests/conftest.py); these tests read the scores, the autograded notebooks and the feedback pages.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from instructor.course import ASSIGNMENT, ROOT, cell_scores, check_points, feedback_text, marked_lines
from odd_answers import ODD_ANSWERS

# A check's own private names (hidden helpers and variables): none may reach a student.
PRIVATE = re.compile(r"(?<![\w.])_[A-Za-z]\w*")
# inf or nan printed as a number; the helpers' own words "nan (not a number)" explain themselves.
BARE_INF_NAN = re.compile(r"(?<![\w.])-?(?:inf|nan)(?![\w.])(?! \(not a number\))", re.IGNORECASE)
LONGEST_MESSAGE = 700  # characters: a few lines on a feedback page
MAX_LINES = 1000  # nbgrader's LimitOutput default: lines of printed output kept per cell


@pytest.fixture(scope="module")
def course(graded_class) -> Path:
    """The class graded once for the whole test session (tests/conftest.py)."""
    return graded_class


def _graded_cells(course: Path, student: str, notebook: str) -> dict[str, nbformat.NotebookNode]:
    """Return {grade_id: cell} for the checks (graded code cells) of one student's autograded notebook."""
    path = course / "course" / "autograded" / student / ASSIGNMENT / f"{notebook}.ipynb"
    cells = nbformat.read(path, as_version=4).cells
    return {cell.metadata.nbgrader["grade_id"]: cell for cell in cells
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"}


def _hidden_names() -> set[str]:
    """Return every private name the hidden checks use (_first, _args, _RowCounter, ...)."""
    return {name for path in (ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb")
            for cell in nbformat.read(path, as_version=4).cells
            for line in marked_lines(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
            for name in PRIVATE.findall(line)}


def test_the_registry_names_real_cells_and_stays_lean():
    """Each entry answers real answer cells of its notebook and loses only that notebook's checks."""
    points = check_points(ROOT)
    for name, odd in ODD_ANSWERS.items():
        assert name.startswith(f"odd_{odd.notebook}_"), name
        checks = {cell for notebook, cell in points if notebook == odd.notebook}
        assert set(odd.loses) <= checks, name
        assert odd.answers and all(cell.startswith(f"nb{odd.notebook[:2]}-") for cell in odd.answers), name
        assert bool(odd.loses) == bool(odd.says), name
    assert {odd.notebook for odd in ODD_ANSWERS.values()} == {notebook for notebook, _ in points}
    assert len(ODD_ANSWERS) <= 40, "every submission costs seconds of grading in every CI run"


@pytest.mark.parametrize("name", sorted(ODD_ANSWERS))
def test_each_odd_answer_loses_exactly_its_checks(course, name):
    """None, text, nan, a generator, ...: the checks of that function score 0, every other check its points."""
    odd = ODD_ANSWERS[name]
    checks = check_points(course)  # the written answers wait for a grader: not this test's business
    scores = {cell: s for (nb, cell), s in cell_scores(course, name).items() if (nb, cell) in checks
              and nb == odd.notebook}
    assert set(scores) == {cell for nb, cell in checks if nb == odd.notebook}
    lost = {cell for cell, (score, maximum) in scores.items() if score < maximum}
    assert lost == set(odd.loses), f"{name}: lost {sorted(lost)}, expected {sorted(odd.loses)}"
    assert all(scores[cell][0] == 0 for cell in odd.loses)


@pytest.mark.parametrize("name", sorted(ODD_ANSWERS))
def test_every_lost_check_says_why_in_words(course, name):
    """Each lost check shows one CheckFailed sentence: on point, short, no private name, no inf or nan figure."""
    odd = ODD_ANSWERS[name]
    hidden = _hidden_names()
    assert len(hidden) > 20
    page = feedback_text(course, name, odd.notebook)
    for grade_id, cell in _graded_cells(course, name, odd.notebook).items():
        errors = [output for output in cell.outputs if output.output_type == "error"]
        assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"], grade_id
        if grade_id not in odd.loses:
            assert not errors, f"{name}: {grade_id} should pass, shows {errors[0].ename}: {errors[0].evalue}"
            continue
        assert errors and all(error.ename == "CheckFailed" for error in errors), (
            f"{name}: {grade_id} shows {[(e.ename, e.evalue[:200]) for e in errors]}")
        message = " ".join(errors[0].evalue.split())
        assert any(words in message for words in odd.says), f"{name}: {grade_id}: {message}"
        assert len(message) <= LONGEST_MESSAGE, f"{name}: {grade_id}: {message}"
        assert not PRIVATE.findall(message), f"{name}: {grade_id}: {message}"
        assert not BARE_INF_NAN.findall(message), f"{name}: {grade_id}: {message}"
        assert message in page, f"{name}: the feedback page does not show the message of {grade_id}"
    leaked = sorted(word for word in hidden if re.search(rf"(?<![\w.]){word}\b", page))
    assert not leaked, f"{name}: the feedback page names hidden helpers {leaked}"


@pytest.mark.parametrize("name", sorted(name for name in ODD_ANSWERS if name.endswith("_flood")))
def test_a_flood_of_printing_is_cut_and_grading_goes_on(course, name):
    """A function that prints thousands of lines: each cell keeps at most 1,000 and the checks still grade."""
    odd = ODD_ANSWERS[name]
    cells = _graded_cells(course, name, odd.notebook)
    printed = {grade_id: "".join(o.text for o in cell.outputs if o.output_type == "stream")
               for grade_id, cell in cells.items()}
    assert all(text.count("\n") <= MAX_LINES for text in printed.values())
    assert any("Output truncated" in text for text in printed.values()), "the flood never reached a check"
    checks = check_points(course)
    assert all(score == maximum for (nb, cell), (score, maximum) in cell_scores(course, name).items()
               if (nb, cell) in checks and nb == odd.notebook and cell not in odd.loses)
