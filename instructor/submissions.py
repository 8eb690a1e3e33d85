"""Submitted notebooks saved by other editors, made into the clean files nbgrader reads.

A student's notebook is their work whichever editor saved it, but some editors save it in a way
the grader used to refuse or that differs from what JupyterLab writes:

  * a UTF-8 byte-order mark before the JSON (Windows Notepad, some editor settings): the JSON
    reader refuses the file, which then scored 0 as "unreadable";
  * Windows line endings (CRLF), between the JSON's lines and inside the cells' text;
  * an older minor version of nbformat 4 (4.0 to 4.4: Jupyter Notebook 5 and older, other tools),
    whose cells have no ids.

``normalise(path)`` rewrites such a file in place as a UTF-8 nbformat 4.5 notebook with cell ids,
keeping every cell, its text, outputs and metadata, and says what it fixed. A file that needs
nothing is left untouched; a file that is not a notebook even after these fixes is left for
``instructor.nbgrader_steps.unreadable_reason`` to explain. The grading step
``UnreadableNotebooks.before`` calls it on every submitted notebook before nbgrader reads it.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

BOM = b"\xef\xbb\xbf"
CURRENT_MINOR = 5  # nbformat 4.5: the first with cell ids, what JupyterLab 4 writes


def _cell_ids(nb: nbformat.NotebookNode) -> None:
    """Give every cell an id from its position (the same file always gets the same ids)."""
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"


def _lf(text: object) -> object:
    """Return ``text`` with Windows line endings made plain newlines (other values unchanged)."""
    return text.replace("\r\n", "\n") if isinstance(text, str) else text


def _plain_line_ends(nb: nbformat.NotebookNode) -> bool:
    """Make the line endings in every cell's text and printed output plain newlines; return whether any changed."""
    changed = False
    for cell in nb.cells:
        texts = [cell] + [output for output in cell.get("outputs", []) if "text" in output]
        for holder in texts:
            key = "source" if holder is cell else "text"
            fixed = _lf(holder[key])
            changed |= fixed != holder[key]
            holder[key] = fixed
    return changed


def normalise(path: Path, keep: Path | None = None) -> str | None:
    """Rewrite the notebook at ``path`` as clean UTF-8 nbformat 4.5 with cell ids; return what was fixed, or None.

    None means the file was left as it was: nothing to fix, or not a notebook at all. ``keep``: where to
    save the file exactly as it was handed in before rewriting it (nothing the student sent is lost).
    """
    raw = path.read_bytes()
    fixes = []
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
        fixes.append("a UTF-8 byte-order mark removed")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("nbformat") != 4 or not isinstance(data.get("cells"), list):
        return None
    minor = data.get("nbformat_minor")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)  # against the notebook's own minor version
    except Exception:  # noqa: BLE001 (nbformat raises several kinds): not ours to repair
        return None
    if _plain_line_ends(nb) or "\r\n" in text:
        fixes.append("Windows line endings (CRLF) made plain")
    if isinstance(minor, int) and minor < CURRENT_MINOR:
        nb.nbformat_minor = CURRENT_MINOR
        _cell_ids(nb)
        fixes.append(f"nbformat 4.{minor} made 4.{CURRENT_MINOR} (cell ids added)")
    if not fixes:
        return None
    nbformat.validate(nb)
    if keep is not None and not keep.exists():
        keep.parent.mkdir(parents=True, exist_ok=True)
        keep.write_bytes(path.read_bytes())
    nbformat.write(nb, path)
    return "; ".join(fixes)
