"""Instructor tools: a scratch copy of the course, submissions built from the solutions, grades.

Used by the end-to-end tests and the autograding benchmark; an instructor can use them to try
nbgrader on fake students before a real class. Needs a checkout of the lab (solutions/ beside
helpers/), not just the installed package.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from instructor.written import is_written, model_answer

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "ch8"
_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def marked_lines(source: str, begin: str, end: str) -> list[str]:
    """Return the stripped lines of ``source`` between a ``begin`` and an ``end`` marker line."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line.strip())
    return lines


def make_scratch_course(dest: Path) -> Path:
    """Copy the course (solutions/ and nbgrader_config.py) into ``dest``; return ``dest``."""
    if not (ROOT / "solutions" / ASSIGNMENT).is_dir():
        raise FileNotFoundError(f"{ROOT / 'solutions'} not found: instructor.course needs a checkout of the lab.")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "solutions", dest / "solutions")
    shutil.copy2(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    return dest


def nbgrader(course: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course`` with this Python; return the finished process."""
    env = dict(os.environ)
    # nbgrader runs alembic (in this Python's bin folder) to set up its database.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=timeout)


def solution_answers(course: Path) -> dict[str, dict[str, str]]:
    """Return {notebook: {grade_id: answer}} for every solution cell: code without its markers, and for a
    written answer its model answer (never its rubric)."""
    answers: dict[str, dict[str, str]] = {}
    for path in sorted((course / "solutions" / ASSIGNMENT).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        answers[path.stem] = {
            cell.metadata.nbgrader["grade_id"]: model_answer(cell.source) if is_written(cell) else "\n".join(
                line for line in cell.source.splitlines() if not _MARKERS.match(line))
            for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution")
        }
    return answers


def write_submission(course: Path, student: str, notebook: str,
                     answers: dict[str, str] | None = None,
                     edit: dict[str, str | None] | None = None) -> Path:
    """Write one student's copy of ``notebook`` into course/submitted; return its path.

    Starts from the released copy; ``answers`` maps grade_id -> code pasted into that solution
    cell; ``edit`` maps grade_id -> new source for any cell, or None to delete the cell.
    """
    nb = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{notebook}.ipynb", as_version=4)
    answers, edit = answers or {}, edit or {}
    cells = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in edit and edit[grade_id] is None:
            continue
        if grade_id in answers:
            cell.source = answers[grade_id]
        if edit.get(grade_id) is not None:
            cell.source = edit[grade_id]
        cells.append(cell)
    nb.cells = cells
    path = course / "course" / "submitted" / student / ASSIGNMENT / f"{notebook}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def write_complete_submission(course: Path, student: str) -> list[Path]:
    """Write a submission with every placeholder answered as in the solutions; return the paths."""
    return [write_submission(course, student, notebook, answers)
            for notebook, answers in solution_answers(course).items()]


def gradebook_url(course: Path) -> str:
    """Return the database URL of the course's gradebook, as its nbgrader_config.py sets it."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return config.CourseDirectory.db_url


def cell_scores(course: Path, student: str) -> dict[tuple[str, str], tuple[float, float]]:
    """Return {(notebook, grade_id): (score, max_score)} for one autograded student."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(gradebook_url(course)) as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                scores[(notebook.name, grade.name)] = (grade.score, grade.max_score)
    return scores


def max_points(course: Path) -> dict[tuple[str, str], float]:
    """Return {(notebook, grade_id): points} for every graded cell of the course's source notebooks."""
    points = {}
    for path in sorted((course / "solutions" / ASSIGNMENT).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                points[(path.stem, meta["grade_id"])] = float(meta["points"])
    return points


def check_points(course: Path) -> dict[tuple[str, str], float]:
    """Return {(notebook, grade_id): points} for every autograded check (the graded code cells)."""
    written = written_points(course)
    return {key: points for key, points in max_points(course).items() if key not in written}


def written_points(course: Path) -> dict[tuple[str, str], float]:
    """Return {(notebook, grade_id): points} for every written answer (a Markdown cell graded by hand)."""
    return {(path.stem, cell.metadata.nbgrader["grade_id"]): float(cell.metadata.nbgrader["points"])
            for path in sorted((course / "solutions" / ASSIGNMENT).glob("*.ipynb"))
            for cell in nbformat.read(path, as_version=4).cells if is_written(cell)}


def total_points(course: Path) -> float:
    """Return the points of the whole assignment (autograded and written), summed over the source notebooks."""
    return sum(max_points(course).values())


def notebook_names(course: Path) -> list[str]:
    """Return the stems of the assignment's notebooks, in order (01_overfitting, ...)."""
    return sorted(path.stem for path in (course / "solutions" / ASSIGNMENT).glob("*.ipynb"))


def page_text(page: Path) -> str:
    """Return the visible text of an HTML page (tags removed, entities decoded, spaces collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.read_text())).split())


def feedback_text(course: Path, student: str, notebook: str) -> str:
    """Return the visible text of one student's feedback page for one notebook."""
    return page_text(course / "course" / "feedback" / student / ASSIGNMENT / f"{notebook}.html")
