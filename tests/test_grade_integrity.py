"""Grade integrity end to end: crashes, cheats and hidden-check errors in the session's graded class.

Every submission in tests/hostile.py is a complete hand-in with a crash, a cheat or a trap in it,
graded with the rest of the class by `python3 tasks.py autograde`'s runner through real nbgrader.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import nbformat
import pytest

from hostile import FULL, HOSTILE
from instructor.course import ASSIGNMENT, ROOT, cell_scores, feedback_text, marked_lines
from mutants import ALTERNATIVES, MUTANTS
from odd_answers import ODD_ANSWERS
from sealed import PROBES


def _per_notebook(course: Path, student: str) -> dict[str, float]:
    """Return {notebook: points earned} for one student."""
    totals: dict[str, float] = {}
    for (notebook, _), (score, _) in cell_scores(course, student).items():
        totals[notebook] = totals.get(notebook, 0) + (score or 0)
    return totals


def _rows(path: Path) -> list[dict[str, str]]:
    """Return the rows of a CSV file as dicts."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_crash_or_cheat_gets_exactly_what_its_honest_part_earns(graded_class, name):
    """A crash costs only its own notebook from the crash on; a cheat earns what the honest wrong answer earns."""
    hostile = HOSTILE[name]
    got = _per_notebook(graded_class, name)
    want = _per_notebook(graded_class, hostile.points) if isinstance(hostile.points, str) else hostile.points
    assert set(got) == set(FULL)
    for notebook, points in want.items():
        if points is not None:
            assert got[notebook] == points, f"{name}: {notebook} scored {got[notebook]}, expected {points}"


def test_the_cheats_yardstick_is_a_real_loss(graded_class):
    """The honest wrong answer the cheats are compared with does lose points (else the comparison proves nothing)."""
    assert _per_notebook(graded_class, "honest_wrong_evaluate")["01_overfitting"] < FULL["01_overfitting"]


@pytest.mark.parametrize("name", sorted(n for n, h in HOSTILE.items() if h.says))
def test_feedback_says_in_words_what_stopped_grading(graded_class, name):
    """The notebook that crashed, ran out of memory or could not be read says so on its feedback page."""
    for notebook, words in HOSTILE[name].says.items():
        assert words in feedback_text(graded_class, name, notebook)


def test_summary_lists_partly_and_not_graded_notebooks_with_reasons(graded_class):
    """course/autograde_summary.csv and the runner's closing lines say what happened and why."""
    rows = {(r["student"], r["notebook"]): r for r in _rows(graded_class / "course" / "autograde_summary.csv")}
    assert {r["status"] for (student, _), r in rows.items() if student == "complete"} == {"graded"}
    assert rows[("kernel_exits_in_02", "02_early_stopping")]["status"] == "partly graded"
    assert "exit code 1" in rows[("kernel_exits_in_02", "02_early_stopping")]["reason"]
    assert rows[("kernel_exits_in_02", "03_dropout")]["status"] == "graded"  # the next notebook is graded normally
    assert rows[("segfault_in_04", "04_minibatch")]["status"] == "partly graded"
    assert rows[("truncated_03", "03_dropout")]["status"] == "not graded"
    assert "03_dropout.ipynb could not be read" in rows[("truncated_03", "03_dropout")]["reason"]
    assert rows[("truncated_03", "04_minibatch")]["status"] == "graded"
    assert rows[("blank", "01_overfitting")]["status"] == "graded"  # an untouched copy is graded (0 points)
    assert MUTANTS["summed_error"].notebook == "01_overfitting"  # a one-notebook submission:
    assert "not handed in" in rows[("summed_error", "04_minibatch")]["reason"]
    log = (graded_class / "autograde.log").read_text()
    assert "partly graded" in log and "kernel_exits_in_02 / 02_early_stopping" in log
    assert "truncated_03 / 03_dropout" in log


def _flags(course: Path) -> list[dict[str, str]]:
    """Return the rows of course/integrity.csv."""
    return _rows(course / "course" / "integrity.csv")


@pytest.mark.parametrize("name", sorted(n for n, h in HOSTILE.items() if h.flagged))
def test_integrity_scan_flags_each_cheat_for_a_person_to_read(graded_class, name):
    """Every trick in tests/hostile.py shows up in course/integrity.csv, with its cell and line."""
    rows = [r for r in _flags(graded_class) if r["student"] == name]
    text = " ".join(r["why"] + " " + r["code"] for r in rows)
    for phrase in HOSTILE[name].flagged:
        assert phrase in text, f"{name}: no flag mentions {phrase!r}: {rows}"
    assert all(r["cell"] for r in rows)


def test_honest_submissions_raise_no_flags(graded_class):
    """The complete submission, every typical mistake and every other correct way get no flag at all."""
    honest = {"complete", "blank", *MUTANTS, *(f"other_way_{nb}" for nb in ALTERNATIVES)}
    flagged = [r for r in _flags(graded_class) if r["student"] in honest]
    assert not flagged, flagged[:5]


def test_every_notebook_was_graded_in_the_sandbox_with_a_verdict_per_check(graded_class):
    """Every record says the kernel ran sealed, and holds one verdict for each graded check of its notebook."""
    from instructor.course import check_points
    from instructor.verdicts import read_records

    records = [r for r in read_records(graded_class / "course" / "grading_status") if r.status != "not graded"]
    checks = {}
    for notebook, check in check_points(graded_class):
        checks.setdefault(notebook, set()).add(check)
    assert len(records) > 100 and all(r.sandbox == "on" for r in records)
    assert all({v.check for v in r.verdicts} == checks[r.notebook] for r in records if r.status == "graded")


def test_the_gradebook_says_exactly_what_the_verdicts_say(graded_class):
    """For every student and check, nbgrader's stored score is the verdict's points: one source of truth."""
    from instructor.verdicts import read_records

    for record in read_records(graded_class / "course" / "grading_status"):
        scores = cell_scores(graded_class, record.student)
        for verdict in record.verdicts:
            assert scores[(record.notebook, verdict.check)][0] == verdict.points, (record.student, verdict)


def test_no_feedback_page_quotes_any_hidden_line_even_of_hostile_submissions(graded_class):
    """Not one line of a hidden check (12+ characters, not also in visible code) on any feedback page."""
    course = graded_class
    hidden, visible = set(), set()
    for path in (course / "solutions" / ASSIGNMENT).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            hidden |= {" ".join(line.split()) for line in
                       marked_lines(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS") if len(line) >= 12}
    for path in (course / "notebooks" / ASSIGNMENT).glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            visible |= {" ".join(line.split()) for line in cell.source.splitlines()}
    hidden -= visible
    assert len(hidden) > 60
    students = [p.name for p in (course / "course" / "feedback").iterdir()]
    assert set(HOSTILE) <= set(students)
    for student in students:
        for page in (course / "course" / "feedback" / student / ASSIGNMENT).glob("*.html"):
            text = feedback_text(course, student, page.stem)
            leaked = [line for line in hidden if line in text]
            assert not leaked, f"{student}/{page.name} quotes hidden code: {leaked[:3]}"


def test_an_odd_answer_gets_the_checks_own_sentence(graded_class):
    """evaluate() returning arrays: each check, hidden ones included, says what came back, never a traceback."""
    text = feedback_text(graded_class, "returns_an_array", "01_overfitting")
    for cell in ("nb01-test-error", "nb01-test-arguments", "nb01-test-weights-unchanged"):
        shown = text.split(f"Grade cell: {cell}")[1].split("Grade cell:")[0]
        assert "should be one number, but it is an array of shape" in shown, cell
        assert "Traceback" not in shown, cell
    assert "_decoy_run" not in text and "_first" not in text


def test_the_readme_counts_the_submissions_the_tests_grade(graded_class):
    """README's "What the grader guarantees" table counts exactly the submissions of the graded class."""
    text = (ROOT / "README.md").read_text()
    table = text.split("### What the grader guarantees")[1].split("Points wrongly given")[0]
    counts = [int(row.split("|")[2]) for row in table.splitlines() if re.match(r"\| [a-z].*\| \d+ \|", row)]
    rows = dict(zip(["plain", "mistakes", "alternatives", "odd", "crashes", "cheats", "hidden", "other", "probes"],
                    counts))
    assert len(rows) == 9, counts
    assert rows["mistakes"] == len(MUTANTS) and rows["alternatives"] == len(ALTERNATIVES)
    assert rows["odd"] == len(ODD_ANSWERS)
    assert rows["crashes"] + rows["cheats"] + rows["hidden"] == len(HOSTILE)
    assert rows["probes"] == len(PROBES)
    students = [p for p in (graded_class / "course" / "submitted").iterdir() if p.is_dir()]
    stated = int(re.search(r"one synthetic class of (\d+) submissions", text).group(1))
    assert sum(counts) == stated == len(students)
