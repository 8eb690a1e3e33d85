"""Notebooks saved by other editors (a byte-order mark, Windows line endings, nbformat 4.0-4.4) are graded like any other.

Unit tests of instructor/submissions.py on the released notebook 01 as other editors save it, and
one real `nbgrader autograde` of a scratch course in which the same complete answers arrive as
JupyterLab saves them, with a byte-order mark and CRLF, and in nbformat 4.0 without cell ids.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from instructor.course import (ASSIGNMENT, cell_scores, check_points, make_scratch_course, nbgrader, solution_answers,
                               write_submission)
from instructor.nbgrader_steps import unreadable_reason
from instructor.submissions import BOM, normalise

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "notebooks" / ASSIGNMENT / "01_overfitting.ipynb"
NB1 = RELEASED.stem


def _content(path: Path) -> list[tuple]:
    """Return what a student wrote and sees in each cell: type, text, metadata and outputs (not the cell id)."""
    nb = nbformat.read(path, as_version=4)
    return [(cell.cell_type, cell.source, json.dumps(cell.metadata, sort_keys=True),
             json.dumps(cell.get("outputs", []), sort_keys=True)) for cell in nb.cells]


def _with_crlf(text: str) -> str:
    """Return notebook JSON as a Windows editor may save it: CRLF between the lines and inside the cells' text."""
    data = json.loads(text)
    for cell in data["cells"]:
        lines = cell["source"] if isinstance(cell["source"], list) else cell["source"].splitlines(keepends=True)
        cell["source"] = [line[:-1] + "\r\n" if line.endswith("\n") else line for line in lines]
    return json.dumps(data, indent=1, ensure_ascii=False).replace("\n", "\r\n") + "\r\n"


def _old_format(text: str, minor: int) -> str:
    """Return notebook JSON as nbformat 4.``minor`` has it: the same cells, without ids."""
    data = json.loads(text)
    data["nbformat_minor"] = minor
    for cell in data["cells"]:
        cell.pop("id", None)
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def test_a_byte_order_mark_is_removed_and_the_notebook_kept(tmp_path):
    """A file that starts with a UTF-8 BOM was 'unreadable'; afterwards it is the same notebook, readable."""
    path = tmp_path / RELEASED.name
    path.write_bytes(BOM + RELEASED.read_bytes())
    assert unreadable_reason(path) is not None
    assert "byte-order mark" in normalise(path)
    assert not path.read_bytes().startswith(BOM) and unreadable_reason(path) is None
    assert _content(path) == _content(RELEASED)


def test_windows_line_endings_become_plain_newlines(tmp_path):
    """CRLF between the JSON's lines and inside cell sources: LF everywhere, the cells' text otherwise unchanged."""
    path = tmp_path / RELEASED.name
    path.write_bytes(_with_crlf(RELEASED.read_text(encoding="utf-8")).encode("utf-8"))
    assert any("\r\n" in cell.source for cell in nbformat.read(path, as_version=4).cells)
    assert "CRLF" in normalise(path)
    assert b"\r" not in path.read_bytes()
    assert _content(path) == _content(RELEASED)


@pytest.mark.parametrize("minor", [0, 2, 4])
def test_old_nbformat_4_gets_cell_ids_and_keeps_its_cells(tmp_path, minor):
    """nbformat 4.0-4.4 without cell ids becomes valid 4.5 with unique ids, the same ones every time."""
    path = tmp_path / RELEASED.name
    path.write_text(_old_format(RELEASED.read_text(encoding="utf-8"), minor), encoding="utf-8")
    assert f"4.{minor} made 4.5" in normalise(path)
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    ids = [cell.id for cell in nb.cells]
    assert nb.nbformat_minor == 5 and len(set(ids)) == len(ids) == len(nb.cells)
    assert _content(path) == _content(RELEASED)
    again = tmp_path / "again.ipynb"
    again.write_text(_old_format(RELEASED.read_text(encoding="utf-8"), minor), encoding="utf-8")
    normalise(again)
    assert again.read_bytes() == path.read_bytes()


def test_all_three_at_once_are_all_fixed_and_said(tmp_path):
    """A BOM, CRLF and nbformat 4.2 in one file: each fix named, one clean notebook."""
    path = tmp_path / RELEASED.name
    path.write_bytes(BOM + _with_crlf(_old_format(RELEASED.read_text(encoding="utf-8"), 2)).encode("utf-8"))
    said = normalise(path)
    assert all(words in said for words in ("byte-order mark", "CRLF", "4.2 made 4.5"))
    assert unreadable_reason(path) is None and _content(path) == _content(RELEASED)
    assert normalise(path) is None  # nothing left to fix


def test_a_clean_notebook_is_left_untouched(tmp_path):
    """What JupyterLab saves needs nothing: the file is not rewritten."""
    path = tmp_path / RELEASED.name
    path.write_bytes(RELEASED.read_bytes())
    before = path.stat().st_mtime_ns
    assert normalise(path) is None
    assert path.read_bytes() == RELEASED.read_bytes() and path.stat().st_mtime_ns == before


@pytest.mark.parametrize("content", [
    b"", BOM + b'{"cells": [', b"\xff\xfe\x00", b'{"a": 1}', BOM + b'{"cells": [], "metadata": {}, "nbformat": 4}',
    b'[1, 2]', b'{"cells": [], "metadata": {}, "nbformat": 3, "nbformat_minor": 0}',
])
def test_a_file_that_is_no_notebook_is_left_for_the_unreadable_page(tmp_path, content):
    """Truncated, binary, JSON but no notebook, invalid: unchanged, and still explained as unreadable."""
    path = tmp_path / RELEASED.name
    path.write_bytes(content)
    assert normalise(path) is None
    assert path.read_bytes() == content
    assert unreadable_reason(path) is not None


def test_notebooks_from_other_editors_get_the_same_grade(tmp_path):
    """Real nbgrader autograde: complete answers saved with a BOM and CRLF, or as nbformat 4.0, score as saved by JupyterLab."""
    course = make_scratch_course(tmp_path / "course")
    released = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert released.returncode == 0, released.stderr[-3000:]
    answers = solution_answers(course)[NB1]
    write_submission(course, "as_saved", NB1, answers)
    bom = write_submission(course, "bom_crlf", NB1, answers)
    bom.write_bytes(BOM + _with_crlf(bom.read_text(encoding="utf-8")).encode("utf-8"))
    old = write_submission(course, "nbformat_4_0", NB1, answers)
    old.write_text(_old_format(old.read_text(encoding="utf-8"), 0), encoding="utf-8")
    assert unreadable_reason(bom) is not None  # what scored 0 before

    graded = nbgrader(course, "autograde", ASSIGNMENT)
    assert graded.returncode == 0, graded.stderr[-3000:]
    expected = {key: (points, points) for key, points in check_points(course).items() if key[0] == NB1}
    saved = {key: score for key, score in cell_scores(course, "as_saved").items() if key in expected}
    assert saved == expected  # complete answers: every check of notebook 01 earns its points
    for student in ("bom_crlf", "nbformat_4_0"):
        assert cell_scores(course, student) == cell_scores(course, "as_saved"), student
        autograded = course / "course" / "autograded" / student / ASSIGNMENT / f"{NB1}.ipynb"
        assert nbformat.read(autograded, as_version=4).nbformat_minor == 5
        handed_in = course / "course" / "grading_status" / student / f"{NB1}.as-handed-in.ipynb"
        assert handed_in.read_bytes().startswith(BOM) if student == "bom_crlf" else b'"nbformat_minor": 0' in handed_in.read_bytes()
