"""nbgrader's restore-deleted-cells step, made safe for notebooks with locked text cells.

nbgrader 0.9's ``OverwriteCells.add_missing_cells`` puts a deleted test cell back after the
source cell just before it, but only finds that cell if it is a graded or an answer cell: a
locked Markdown cell there (or a deleted answer cell) makes it crash with ``KeyError`` and the
whole notebook is not graded. Here the cell goes after the nearest earlier cell that is present.
Only nbgrader_config.py imports this module.
"""
from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.preprocessors import OverwriteCells


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
