"""The class report on the synthetic class graded once per session (tests/conftest.py: graded_class).

Every count is compared with what tests/mutants.py declares: a mutant loses exactly its checks, the
untouched copy loses every check, a correct answer loses none. The page must stand alone: figures
embedded, no script, no link out. The report is opened in a browser in test_browser.py.
"""
from __future__ import annotations

import base64
import csv
import html
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from instructor.course import ROOT, cell_scores, check_points, max_points, notebook_names, total_points, written_points
from instructor.report import (INTERRUPTED, WRITTEN_COLUMNS, ReportError, check_rows, load_class, lost_by, mistake_key,
                               mistakes, write_report, written_rows)
from mutants import ALTERNATIVES, MUTANTS, NB1, NB2
from written_answers import HAND_GRADES, WRONG, WRONG_STUDENT

NOTEBOOKS = notebook_names(ROOT)
# Students whose every lost check tests/mutants.py declares.
DECLARED = {"complete", "blank", *MUTANTS, *(f"other_way_{notebook}" for notebook in ALTERNATIVES)}


@pytest.fixture(scope="module")
def absent(tmp_path_factory) -> Path:
    """A path where no file is: the grading run's CSV files as they are before the parallel runner writes them."""
    return tmp_path_factory.mktemp("nothing") / "absent.csv"


@pytest.fixture(scope="module")
def results(graded_class, absent):
    """The class as the report reads it, without the grading run's CSV files."""
    return load_class(graded_class, summary=absent, integrity=absent)


def _csv(path: Path) -> list[dict[str, str]]:
    """Return the rows of a CSV file the report wrote."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def report(graded_class, absent, tmp_path_factory) -> tuple[str, list[dict[str, str]], list[dict[str, str]]]:
    """The HTML page, the checks' CSV rows and the written questions' CSV rows for the synthetic class (no
    grading-run files)."""
    page, table, written = write_report(graded_class, tmp_path_factory.mktemp("report"), summary=absent,
                                        integrity=absent)
    return page.read_text(encoding="utf-8"), _csv(table), _csv(written)


def _expected_losers(check_notebook: str, check: str) -> set[str]:
    """Return the declared students who must lose ``check``: the blank copy and the mutants aimed at it."""
    return {"blank"} | {name for name, m in MUTANTS.items() if m.notebook == check_notebook and check in m.fails}


def test_mistake_key_groups_the_same_mistake_whatever_the_numbers_and_names():
    """Students' own numbers, names and code do not split a mistake; a different sentence does."""
    one = mistake_key("Your error 10661.4 is the SUM over the 10000 images; divide by len(images).")
    assert one == mistake_key("Your error 523.25 is the SUM over the 500 images;  divide by len(images).")
    assert mistake_key("NameError: name 'evaluat' is not defined") == mistake_key("NameError: name 'x' is not defined")
    assert mistake_key("uses `test_images @ w` (line 3)") == mistake_key("uses `np.dot(test_images, w)` (line 12)")
    assert one != mistake_key("Your error is 10 times too small: np.mean averages over all n x 10 numbers.")


def test_who_handed_in_what(results):
    """Each mutant handed in one notebook; the complete and the blank students all of them."""
    assert results.handed_in["complete"] == results.handed_in["blank"] == set(NOTEBOOKS)
    for name, mutant in MUTANTS.items():
        assert results.handed_in[name] == {mutant.notebook}
    assert [c.notebook for c in results.checks].count(NB1) == 5
    assert len(results.checks) == len(check_points(ROOT))
    assert [(q.notebook, q.name) for q in results.questions] == list(written_points(ROOT))
    assert results.max_total == total_points(ROOT)


def test_each_check_is_lost_by_exactly_the_declared_students(results):
    """For every check: among the declared students, exactly the blank copy and the mutants aimed at it lost it."""
    for one in results.checks:
        lost = set(lost_by(results, one)) & DECLARED
        assert lost == _expected_losers(one.notebook, one.name), f"{one.name}: {sorted(lost)}"


def test_counts_agree_with_the_gradebook(graded_class, results):
    """Every student who lost a check per the gradebook (read separately) is counted, and no one else."""
    points = max_points(graded_class)
    for student, notebooks in results.handed_in.items():
        scores = cell_scores(graded_class, student)
        for check in results.checks:
            if check.notebook in notebooks:
                lost = scores[(check.notebook, check.name)][0] < points[(check.notebook, check.name)]
                assert lost == (student in lost_by(results, check)), (student, check.name)


def test_every_lost_check_has_exactly_one_message_group(results):
    """The message groups of a check add up to the students who lost it, each student once."""
    found = mistakes(results)
    for check in results.checks:
        named = [student for m in found if m.check == check for student in m.students]
        assert sorted(named) == lost_by(results, check)


def test_each_mutant_is_named_by_its_message(results):
    """The message each mistake is built to trigger is among the groups of the checks that mutant lost."""
    found = mistakes(results)
    for name, mutant in MUTANTS.items():
        examples = " ".join(m.example for m in found if name in m.students and m.check.name in mutant.fails)
        assert mutant.message in " ".join(examples.split()), f"{name}: {examples[:300]}"


def test_the_same_mistake_is_counted_once_per_student(results):
    """The summed error is made by three students (one mutant, two who also touched the test cell): one group of 3."""
    summed = [m for m in mistakes(results) if "is the SUM over" in m.example]
    assert len(summed) == 1
    assert summed[0].students == ["deleted_test_cell", "edited_test_cell", "summed_error"]
    assert summed[0].check.name == "nb01-test-error"


def test_the_blank_copy_is_not_written_yet_everywhere(results):
    """The untouched copy's messages say the code is not written yet, for every check."""
    found = mistakes(results)
    for check in results.checks:
        said = [m.example for m in found if m.check == check and "blank" in m.students]
        assert len(said) == 1 and "not written yet" in said[0], (check.name, said)


def test_a_loop_that_never_ends_is_reported_as_stopped(results):
    """An interrupted cell shows as stopped for running too long, not as an empty KeyboardInterrupt."""
    stopped = [m for m in mistakes(results) if m.example == INTERRUPTED]
    assert {(m.check.name, s) for m in stopped for s in m.students} >= {("nb02-test-validation", "endless_loop"),
                                                                        ("nb01-test-error", "endless_test_loop")}


def test_csv_has_one_row_per_check(report, results):
    """class_report_checks.csv: notebook, check, points, pass rate, students who lost it, commonest message."""
    _, rows, _ = report
    assert [(r["notebook"], r["check"]) for r in rows] == [(c.notebook, c.name) for c in results.checks]
    assert {"notebook", "check", "points", "pass_rate", "students_lost", "most_frequent_message"} <= set(rows[0])
    error = next(r for r in rows if r["check"] == "nb01-test-error")
    # Counted by hand: the students who lost the check, grouped by what it said (numbers aside).
    said = Counter(mistake_key(results.messages[(s, NB1, "nb01-test-error")])
                   for s in lost_by(results, next(c for c in results.checks if c.name == "nb01-test-error")))
    commonest, count = said.most_common(1)[0]
    assert mistake_key(error["most_frequent_message"]) == commonest and error["most_frequent_message_students"] == str(count)
    assert said[mistake_key("Your error 10661.4 is the SUM over the 10000 images; "
                            "the book prints the mean per image: divide by len(images).")] == 3, said  # 3 mutants
    for row, expected in zip(rows, check_rows(results)):
        assert int(row["students_lost"]) == expected["students_lost"] == len(
            lost_by(results, next(c for c in results.checks if c.name == row["check"])))
        handed = int(row["handed_in"])
        assert float(row["pass_rate"]) == pytest.approx((handed - int(row["students_lost"])) / handed, abs=1e-3)


def test_the_page_stands_alone(report):
    """Figures are embedded PNGs; no script, no stylesheet or image from elsewhere, no link out."""
    page, _, _ = report
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert not re.search(r"(?:src|href)\s*=\s*[\"'](?!data:image/png;base64,|#)", page)
    assert "http://" not in page and "https://" not in page
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', page)
    assert len(images) == 2  # score histogram, pass rates (grading times need the summary file)
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for data, _ in images)


def test_missing_grading_files_are_said_plainly(report, absent):
    """Without autograde_summary.csv and integrity.csv the page says so, naming the file, where it would show them."""
    page, _, _ = report
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert text.count(f"Not available: {absent} was not found") == 3  # not fully graded, integrity, times


def test_grading_files_are_shown_when_present(graded_class, tmp_path):
    """With the grading run's CSV files: the submissions not fully graded, the integrity flags and the grading times."""
    summary, integrity = tmp_path / "autograde_summary.csv", tmp_path / "integrity.csv"
    summary.write_text("student,notebook,status,reason,seconds\n"
                       "complete,01_overfitting,graded,,6.5\n"
                       f"endless_loop,{NB2},partly graded,a cell ran past its time limit,41.0\n"
                       f"deleted_answer_and_test,{NB1},not graded,the notebook could not be read,\n")
    integrity.write_text("student,notebook,cell,line,why\n"
                         f"edited_test_cell,{NB1},nb01-test-error,1,a graded test cell was edited\n")
    page_path, *_ = write_report(graded_class, tmp_path / "out", summary=summary, integrity=integrity)
    page = page_path.read_text(encoding="utf-8")
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Not available" not in text
    assert "endless_loop 02_early_stopping partly graded a cell ran past its time limit" in text
    assert "deleted_answer_and_test 01_overfitting not graded the notebook could not be read" in text
    assert "complete 01_overfitting graded" not in text.split("Integrity flags")[0].split("not fully graded")[1]
    assert "edited_test_cell 01_overfitting nb01-test-error 1 a graded test cell was edited" in text
    assert "2 notebooks graded in 48 s" in text and "slowest 41.0 s" in text
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 3


def test_written_answers_are_counted_per_question(graded_class, results, report):
    """Per written question: who handed its notebook in, graded by hand (and the points given), waiting, blank;
    counted from the gradebook read separately, and the same in the CSV."""
    from nbgrader.api import Gradebook

    from instructor.course import gradebook_url

    rows = written_rows(results)
    assert [r["question"] for r in rows] == [question for _, question in written_points(ROOT)]
    with Gradebook(gradebook_url(graded_class)) as gb:
        for row in rows:
            handed = [s for s, notebooks in results.handed_in.items() if row["notebook"] in notebooks]
            grades = [gb.find_grade(row["question"], row["notebook"], "ch8", s) for s in handed]
            by_hand = [g for g in HAND_GRADES if g.question == row["question"]]
            assert row["handed_in"] == len(handed) > 10
            assert row["graded"] == len(by_hand) == sum(g.manual_score is not None for g in grades)
            assert row["blank"] == sum(g.manual_score is None and not g.needs_manual_grade for g in grades) >= 1
            assert row["waiting"] == row["handed_in"] - row["graded"] - row["blank"] > 0
            given = Counter(g.points for g in by_hand)
            assert row["points_given"] == ", ".join(f"{p:g} point{'' if p == 1 else 's'}: {n}"
                                                    for p, n in sorted(given.items(), reverse=True))
    two = next(r for r in rows if r["question"] == "nb03-written-two-answer")
    assert (two["graded"], two["points_given"], two["mean_of_graded"]) == (2, "2 points: 1, 1 point: 1", 1.5)
    _, _, written = report
    assert list(written[0]) == WRITTEN_COLUMNS
    assert [(r["question"], int(r["graded"]), int(r["waiting"]), int(r["blank"])) for r in written] == [
        (r["question"], r["graded"], r["waiting"], r["blank"]) for r in rows]


def test_every_answer_to_one_question_is_on_the_page_with_its_grade(report):
    """A grader reads all the answers to a question in one place: each student's text, state, points and comment."""
    page, _, _ = report
    text = html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))
    start = text.index("03_dropout · nb03-written-two-answer: the two 2s")
    listing = text[start:text.index("03_dropout · nb03-written-training-accuracy-answer")]
    wrong = next(g for g in HAND_GRADES if g.student == WRONG_STUDENT and g.question == "nb03-written-two-answer")
    assert f"{WRONG_STUDENT} graded 1 {' '.join(wrong.comment.split())} {WRONG['nb03-written-two-answer']}" in listing
    assert "blank blank (0 points) 0 YOUR ANSWER HERE" in listing
    assert "complete graded 2 Full marks (nb03-written-two-answer)" in listing
    assert re.search(r"summed_error waiting for a grader|other_way_01_overfitting", listing) is None  # 03 only
    assert listing.count("waiting for a grader") >= 10


def test_a_csv_without_its_columns_is_refused(graded_class, tmp_path, absent):
    """A grading-run file with other columns is named, with the columns it lacks."""
    wrong = tmp_path / "summary.csv"
    wrong.write_text("student,score\ncomplete,32\n")
    with pytest.raises(ReportError, match=r"lacks the column\(s\) notebook, reason, seconds, status"):
        load_class(graded_class, summary=wrong, integrity=absent)


def test_the_command_prints_where_the_report_is(graded_class, tmp_path):
    """python -m instructor.report --course DIR --out DIR writes both files and prints their paths."""
    done = subprocess.run(
        [sys.executable, "-m", "instructor.report", "--course", str(graded_class), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"Class report written: {tmp_path / 'class_report.html'}" in done.stdout
    assert (tmp_path / "class_report.html").is_file() and (tmp_path / "class_report_checks.csv").is_file()


def test_a_course_not_yet_graded_gets_told_what_to_do(tmp_path):
    """Before autograding, the command says so and how to autograde, with exit code 1 and no traceback."""
    (tmp_path / "nbgrader_config.py").write_text("")
    done = subprocess.run([sys.executable, "-m", "instructor.report", "--course", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "No class report: No autograded notebooks in" in done.stderr and "python3 tasks.py autograde" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_folder_that_is_not_the_lab_gets_told_where_to_point(tmp_path):
    """Autograded notebooks but no nbgrader_config.py: the report names the folder to use instead of a traceback."""
    copy = tmp_path / "course" / "autograded" / "someone" / "ch8" / f"{NB1}.ipynb"
    copy.parent.mkdir(parents=True)
    copy.write_text((Path(__file__).resolve().parents[1] / "notebooks" / "ch8" / f"{NB1}.ipynb").read_text())
    with pytest.raises(ReportError, match="No nbgrader_config.py in .*: point --course at the lab's folder"):
        load_class(tmp_path)
