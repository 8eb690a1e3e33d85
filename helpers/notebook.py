"""The first cell of every notebook: one call that does the lab's set-up, documented here.

Nothing here imports NumPy at import time: notebook 05 must choose its BLAS threads before NumPy
is loaded, and ``from helpers import start_notebook`` is the first thing its setup cell does.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helpers.data import LabData

BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""The variables NumPy's linear-algebra libraries read, once, when NumPy is imported."""


def start_notebook(*, many_networks: bool = False) -> tuple[LabData, bool]:
    """Prepare a notebook of the lab; return (its data, QUICK: True while nbgrader runs the notebook).

    * The data: ``load_lab_data()``, MNIST prepared as the book does (downloaded on first use and
      kept in a cache; ``MNIST_DIR`` points at a copy to work offline: see the lab guide).
    * QUICK: nbgrader sets ``NBGRADER_EXECUTION`` while it validates or autogrades a notebook; the
      notebooks then cut their long training runs short, so that grading stays fast. The graded
      checks never depend on those runs.
    * ``many_networks=False`` (notebooks 01-04, the book's one-image-at-a-time loops):
      ``tune_malloc()`` lets NumPy reuse heap memory for the 250 KB temporaries of each step instead
      of asking the operating system every time (on some Linux set-ups several times faster; the
      same numbers).
    * ``many_networks=True`` (notebook 05, networks trained side by side, one thread per core): one
      BLAS thread per matrix product, set before NumPy is imported (call this first), since BLAS
      threads of their own would only compete with the training's threads.
    """
    if many_networks:
        for variable in BLAS_THREADS:
            os.environ.setdefault(variable, "1")
    else:
        from helpers.speed import tune_malloc

        tune_malloc()
    # Looked up on the module at call time: the grader swaps helpers.data.load_lab_data for its one
    # read-only copy of the data while it runs a notebook's setup (instructor/checker.py).
    import helpers.data

    return helpers.data.load_lab_data(), "NBGRADER_EXECUTION" in os.environ
