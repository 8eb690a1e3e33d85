"""The lab's two nbgrader steps, on their own (the pipeline tests run them inside nbgrader)."""
from __future__ import annotations

import time

from nbformat.v4 import new_code_cell

from instructor.nbgrader_steps import GradingExecute


def test_cells_share_the_notebooks_time_budget(monkeypatch):
    """Each cell gets the per-cell limit until the notebook's budget runs low, then what is left, then 1 s."""
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    limit = GradingExecute(timeout=60, notebook_timeout=100)
    limit.start_clock()
    cell = new_code_cell("while True: pass")
    assert limit.timeout_func(cell) == 60
    clock[0] += 70
    assert limit.cell_timeout(cell) == 30
    clock[0] += 40
    assert limit.cell_timeout(cell) == 1
    limit.start_clock()  # the next notebook starts with the full budget again
    assert limit.cell_timeout(cell) == 60
