"""Notebook 05's committed outputs: ten seeds, and the book's seed printing the book's own rows."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "solutions" / "ch8" / "05_evidence.ipynb"
BOOK_TABLES = json.loads((ROOT / "tests" / "data" / "book_ch8_tables.json").read_text())["lines"]
LINE = re.compile(r"^I:\d+ .*$", re.M)


def _printed(cell_id: str) -> str:
    """Return what one cell of the committed notebook printed."""
    cell = next(c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.get("id") == cell_id)
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def test_the_books_seed_prints_the_books_first_and_last_rows():
    """Trained side by side with nine other seeds, seed 1 prints notebook 01's and 03's rows (the book's)."""
    overfitting, dropout = _printed("nb05-train").split("as notebook 03 printed it:")
    baseline, with_dropout = BOOK_TABLES["baseline"], BOOK_TABLES["dropout"]
    assert LINE.findall(overfitting) == baseline[:3] + baseline[-1:]
    assert LINE.findall(dropout) == with_dropout[:3] + with_dropout[-1:]


def test_the_committed_run_used_ten_seeds_and_full_length():
    """The committed outputs come from the full run (10 seeds, I:349 and I:290), not the autograding one."""
    text = "".join(_printed(cell.id) for cell in nbformat.read(NOTEBOOK, as_version=4).cells
                   if cell.cell_type == "code")
    assert "of 10" in text and "I:349" in text and "I:290" in text
    assert re.search(r"after 10 epochs, mean ± standard deviation over 10 seeds", text)


def test_every_lesson_reports_mean_spread_and_the_books_seed():
    """One report line per result: mean ± spread in percent, the range, the book's seed and its distance."""
    report = re.compile(r"\d+\.\d\d ± \d+\.\d\d (?:%|points)  \(-?\d+\.\d\d–-?\d+\.\d\d\)  "
                        r"book's seed -?\d+\.\d\d (?:%|points), [+-]\d+\.\d spreads")
    for cell_id, at_least in [("nb05-overfit", 4), ("nb05-early", 3), ("nb05-dropout", 4)]:
        assert len(report.findall(_printed(cell_id))) >= at_least, cell_id
    assert len(re.findall(r"\d+\.\d\d ± \d\.\d\d", _printed("nb05-grid"))) >= 6
