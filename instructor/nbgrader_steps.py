"""Two nbgrader steps adapted for the lab; only nbgrader_config.py imports this module.

``RestoreMissingCells``: nbgrader 0.9's ``OverwriteCells.add_missing_cells`` puts a deleted test cell back after the
source cell just before it, but only finds that cell if it is a graded or an answer cell: a
locked Markdown cell there (or a deleted answer cell) makes it crash with ``KeyError`` and the
whole notebook is not graded. Here the cell goes after the nearest earlier cell that is present.

``NotebookTimeLimit``: nbgrader limits each cell's run time, not the notebook's; a placeholder
that never returns is called by several test cells and would cost the cell limit each time.
Here the whole notebook also has a budget: once it is spent, every remaining cell gets 1 second.
"""
from __future__ import annotations

import time

from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, OverwriteCells
from traitlets import Integer


def _grade_id(cell: NotebookNode) -> str | None:
    """Return the nbgrader grade_id of a cell, or None for a cell nbgrader does not track."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


class RestoreMissingCells(OverwriteCells):
    """OverwriteCells that re-inserts every deleted graded cell next to its nearest surviving neighbour."""

    def add_missing_grade_cells(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        """Insert each graded cell missing from ``nb`` after the closest earlier cell still there."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        for grade_cell in sorted(source_nb.grade_cells, key=lambda cell: order.index(cell.name)):
            present = {_grade_id(cell): i for i, cell in enumerate(nb.cells) if _grade_id(cell)}
            if grade_cell.name in present:
                continue
            self.log.warning(f"Missing grade cell {grade_cell.name} encountered, adding to notebook")
            position = order.index(grade_cell.name)
            anchor = next((present[name] for name in reversed(order[:position]) if name in present), -1)
            restored = self.missing_cell_transform(source_nb.source_cells[position], grade_cell.max_score,
                                                   is_solution=grade_cell.name in solution_ids)
            nb.cells.insert(anchor + 1, restored)
        return nb, resources


class NotebookTimeLimit(Execute):
    """nbgrader's Execute with a time budget for the whole notebook on top of the per-cell limit."""

    notebook_timeout = Integer(
        300, help="Seconds one notebook may run in all; later cells get what is left (at least 1 s)."
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict | None = None, km=None):
        """Start this notebook's clock, then run it cell by cell as nbgrader does."""
        self.start_clock()
        return super().preprocess(nb, resources, km=km)

    def start_clock(self) -> None:
        """Give the notebook about to run its full budget; cells then ask cell_timeout()."""
        self._deadline = time.monotonic() + self.notebook_timeout
        self.timeout_func = self.cell_timeout

    def cell_timeout(self, cell: NotebookNode) -> int:
        """Return the seconds ``cell`` may run: the per-cell limit, or what is left of the budget."""
        left = int(self._deadline - time.monotonic())
        return max(1, min(self.timeout, left))
