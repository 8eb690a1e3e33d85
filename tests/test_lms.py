"""Submissions from Canvas and Moodle through the real `nbgrader zip_collect`, and grades back out for them.

The archives are built here the way those LMS build their "download all submissions" zips
(instructor/lms.py cites the code that names the files): several students, a resubmission, files
that name no student or no notebook of the assignment. Nothing may be guessed into a student.
"""
from __future__ import annotations

import csv
import shutil
import sqlite3
import zipfile
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from instructor.course import ASSIGNMENT, ROOT, gradebook_url, make_scratch_course, nbgrader, total_points
from instructor.lms import CANVAS, MOODLE_FILE, MOODLE_FOLDER

NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks" / ASSIGNMENT).glob("*.ipynb"))
FULL = total_points(ROOT)  # the whole lab's points: 37 autograded, 16 for written answers graded by hand


def upload(label: str, notebook: str = "01_overfitting.ipynb") -> bytes:
    """Return a student's notebook (the released copy) marked with ``label``, to tell copies apart afterwards."""
    nb = nbformat.read(ROOT / "notebooks" / ASSIGNMENT / notebook, as_version=4)
    nb.metadata["lab_test_upload"] = label
    return nbformat.writes(nb).encode()


def label_of(path: Path) -> str:
    """Return the label ``upload()`` put into a collected notebook."""
    return nbformat.read(path, as_version=4).metadata["lab_test_upload"]


def write_zip(course: Path, name: str, entries: dict[str, bytes]) -> None:
    """Put a zip with ``entries`` (path in the zip -> bytes) where zip_collect looks: course/downloaded/ch8/archive."""
    archive = course / "course" / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive / name, "w") as out:
        for path, data in entries.items():
            out.writestr(path, data)


def collected(course: Path) -> dict[str, dict[str, str]]:
    """Return {student: {file: label or "(not a notebook)"}} of everything in course/submitted."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted((course / "course" / "submitted").glob("*/*/*")):
        assert path.parent.name == ASSIGNMENT
        found.setdefault(path.parent.parent.name, {})[path.name] = (
            label_of(path) if path.suffix == ".ipynb" else "(not a notebook)")
    return found


@pytest.fixture
def course(tmp_path) -> Path:
    """Return a scratch course with the student copies released (zip_collect checks names against them)."""
    course = make_scratch_course(tmp_path / "course")
    shutil.copytree(ROOT / "notebooks", course / "notebooks")  # what generate_assignment writes (a test checks)
    return course


def zip_collect(course: Path) -> tuple[str, str]:
    """Run `nbgrader zip_collect ch8` in ``course``; return (its log, the collect report)."""
    run = nbgrader(course, "zip_collect", ASSIGNMENT)
    assert run.returncode == 0, run.stderr[-3000:]
    report = (course / "course" / "downloaded" / ASSIGNMENT / "collect_report.txt").read_text()
    return run.stdout + run.stderr, report


def test_canvas_download_is_collected_by_user_id(course):
    """Canvas's names give the user id; a renamed resubmission replaces the older upload; strays are reported."""
    write_zip(course, "ch8-lab submissions.zip", {
        "smithbob_4101_90001_01_overfitting.ipynb": upload("bob 01", "01_overfitting.ipynb"),
        "smithbob_4101_90002_02_early_stopping.ipynb": upload("bob 02", "02_early_stopping.ipynb"),
        "nguyenan_LATE_4102_90010_03_dropout.ipynb": upload("an 03 late", "03_dropout.ipynb"),
        # The same notebook uploaded twice: Canvas renames the second "-1" and gives it a larger file id.
        "garciamaria_4103_90020_04_minibatch.ipynb": upload("maria 04 first", "04_minibatch.ipynb"),
        "garciamaria_4103_90055_04_minibatch-1.ipynb": upload("maria 04 again", "04_minibatch.ipynb"),
        "garciamaria_4103_90060_01_overfitting-1.ipynb": upload("maria 01 renamed"),
        # Canvas keeps underscores and letters beyond ASCII in names ("[[:word:]]").
        "o_brienzoë_4104_90070_02_early_stopping.ipynb": upload("zoe 02", "02_early_stopping.ipynb"),
        # Strays: no Canvas name at all, a notebook that is not one of the lab's, not a notebook.
        "notes_from_class.ipynb": upload("stray"),
        "smithbob_4101_90003_dropout_final.ipynb": upload("bob renamed", "03_dropout.ipynb"),
        "smithbob_4101_90004_screenshot.png": b"\x89PNG not really",
    })
    log, report = zip_collect(course)

    assert collected(course) == {
        "4101": {"01_overfitting.ipynb": "bob 01", "02_early_stopping.ipynb": "bob 02"},
        "4102": {"03_dropout.ipynb": "an 03 late"},
        "4103": {"04_minibatch.ipynb": "maria 04 again", "01_overfitting.ipynb": "maria 01 renamed"},
        "4104": {"02_early_stopping.ipynb": "zoe 02"},
    }
    assert report.startswith("6 notebooks from 4 students collected, 1 older uploads replaced, 3 files NOT collected.")
    for stray in ("notes_from_class.ipynb: its name matches neither",
                  "student 4101 uploaded 'dropout_final.ipynb', which is not one of the assignment's notebooks",
                  "student 4101 uploaded 'screenshot.png'"):
        assert stray in report and stray in log, stray
    assert "04_minibatch.ipynb replaced by the later upload" in report and "90055_04_minibatch-1.ipynb" in report
    # Canvas names carry no time: nbgrader must not invent one (late penalties stay with Canvas).
    assert not list((course / "course" / "submitted").glob("*/*/timestamp.txt"))


def test_moodle_download_is_collected_by_participant_id(course):
    """Moodle's folders (before and since 4.1) and prefixed names give the participant id; doubt is reported."""
    write_zip(course, "CS101-Lab 8-1234.zip", {
        "Ann Lee_5501_assignsubmission_file_/01_overfitting.ipynb": upload("ann 01"),
        "Ann Lee_5501_assignsubmission_file_/my notes.ipynb": upload("ann notes"),
        "Bo Chen_5502_assignsubmission_file/02_early_stopping.ipynb": upload("bo 02 first", "02_early_stopping.ipynb"),
        "Cy Dal_5503_assignsubmission_file_03_dropout.ipynb": upload("cy 03", "03_dropout.ipynb"),
        "Participant_5505_assignsubmission_file/04_minibatch.ipynb": upload("anonymous 04", "04_minibatch.ipynb"),
        "Dee Eve_5504_assignsubmission_onlinetext_/onlinetext.html": b"<p>see my notebook</p>",
    })
    # The same assignment downloaded again later: Ann's file unchanged, Bo's different; the names
    # say nothing about which download is newer.
    write_zip(course, "CS101-Lab 8-1234 (1).zip", {
        "Ann Lee_5501_assignsubmission_file_/01_overfitting.ipynb": upload("ann 01"),
        "Bo Chen_5502_assignsubmission_file/02_early_stopping.ipynb": upload("bo 02 second", "02_early_stopping.ipynb"),
    })
    log, report = zip_collect(course)

    assert collected(course) == {
        "5501": {"01_overfitting.ipynb": "ann 01"},
        "5503": {"03_dropout.ipynb": "cy 03"},
        "5505": {"04_minibatch.ipynb": "anonymous 04"},
    }
    assert report.startswith("3 notebooks from 3 students collected, 0 older uploads replaced, 3 files NOT collected.")
    for problem in ("student 5501 uploaded 'my notes.ipynb', which is not one of the assignment's notebooks",
                    "onlinetext.html: a Moodle onlinetext submission, not an uploaded file",
                    "student 5502, 02_early_stopping.ipynb: 2 different copies and nothing says which is newer"):
        assert problem in report and problem in log, problem


def test_file_name_patterns_take_the_ids_from_the_right_places():
    """Canvas: the first "_<digits>_<digits>_" holds the user and file id; Moodle: the name holds no "_"."""
    canvas = CANVAS.fullmatch("smithbob_LATE_4101_90001_01_overfitting-2.ipynb")
    assert (canvas["who"], canvas["late"], canvas["student"], canvas["file_id"], canvas["name"]) == (
        "smithbob", "LATE_", "4101", "90001", "01_overfitting-2.ipynb")
    anonymous = CANVAS.fullmatch("anon_Xk3Pq_90001_02_early_stopping.ipynb")
    assert (anonymous["who"], anonymous["student"]) == (None, "anon_Xk3Pq")
    assert anonymous["name"] == "02_early_stopping.ipynb"
    assert CANVAS.fullmatch("01_overfitting.ipynb") is None
    assert MOODLE_FOLDER.fullmatch("Ann Lee_5501_assignsubmission_file_")["student"] == "5501"
    assert MOODLE_FOLDER.fullmatch("Ann Lee_5501_assignsubmission_onlinetext_") is None
    flat = MOODLE_FILE.fullmatch("Ann Lee_5501_assignsubmission_file_01_overfitting.ipynb")
    assert (flat["student"], flat["name"]) == ("5501", "01_overfitting.ipynb")


def read_csv(path: Path) -> list[list[str]]:
    """Return the rows of a CSV file."""
    with open(path, newline="", encoding="utf-8") as rows:
        return list(csv.reader(rows))


def test_canvas_grades_import_file(graded_class, tmp_path):
    """The Canvas CSV: Canvas's own export columns, the points row, each student's nbgrader score (here out of 100)."""
    dest = tmp_path / "canvas.csv"
    run = nbgrader(graded_class, "export", "--exporter=instructor.lms.CanvasGradesExport", f"--to={dest}",
                   "--CanvasGradesExport.column=Chapter 8 lab (4242)", "--CanvasGradesExport.out_of=100")
    assert run.returncode == 0, run.stderr[-3000:]
    rows = read_csv(dest)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Chapter 8 lab (4242)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "100"]
    with open(graded_class / "grades.csv", newline="") as grades:  # nbgrader's own export (tests/conftest.py)
        nbgrader_scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(grades)}
    # complete: every check, and every written answer graded by hand (tests/written_answers.py)
    assert nbgrader_scores["complete"] == FULL == 53 and nbgrader_scores["blank"] == 0
    # The class's ids are logins, not Canvas user ids: Canvas matches them on SIS Login ID.
    exported = {row[3]: float(row[5]) for row in rows[2:]}
    assert all(row[1] == "" and row[0] == row[3] for row in rows[2:])
    assert exported == pytest.approx({student: score * 100 / FULL for student, score in nbgrader_scores.items()},
                                     abs=0.01)


def test_moodle_grades_import_file(graded_class, tmp_path):
    """The Moodle CSV: a participant collected from Moodle gets "Participant <id>", other ids go under Username."""
    from nbgrader.api import Gradebook

    # A copy of the class's gradebook (SQLite's backup copies a WAL database whole) with one Moodle participant.
    copy = tmp_path / "gradebook.db"
    with sqlite3.connect(gradebook_url(graded_class).removeprefix("sqlite:///")) as source, \
            sqlite3.connect(copy) as target:
        source.backup(target)
    with Gradebook(f"sqlite:///{copy}", "grokking-ch8") as gb:
        gb.add_student("5501", first_name="Ann", last_name="Lee")
        gb.add_submission(ASSIGNMENT, "5501")
        notebook = gb.find_assignment(ASSIGNMENT).notebooks[0]
        grade = gb.find_grade(notebook.grade_cells[0].name, notebook.name, ASSIGNMENT, "5501")
        grade.auto_score = grade.max_score
        gb.db.commit()
        ann = grade.max_score

    dest = tmp_path / "moodle.csv"
    run = nbgrader(graded_class, "export", "--exporter=instructor.lms.MoodleGradesExport", f"--to={dest}",
                   f"--db=sqlite:///{copy}")
    assert run.returncode == 0, run.stderr[-3000:]
    rows = read_csv(dest)
    assert rows[0] == ["Identifier", "Full name", "Username", "Grade", "Maximum Grade", "Last modified (grade)"]
    by_student = {row[0] or row[2]: row for row in rows[1:]}
    assert by_student["Participant 5501"][1:5] == ["Ann Lee", "", f"{ann:g}", f"{FULL:g}"]
    assert by_student["complete"][:5] == ["", "", "complete", f"{FULL:g}", f"{FULL:g}"]
    assert by_student["blank"][3] == "0"
    assert datetime.fromisoformat(by_student["complete"][5]).tzinfo is not None  # Moodle reads ISO 8601 times
    assert len(rows) - 1 == len(read_csv(graded_class / "grades.csv")) - 1 + 1  # every student, plus Ann
