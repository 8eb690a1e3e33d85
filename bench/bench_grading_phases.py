"""Print where a complete submission's grading seconds go, notebook by notebook (CPU seconds).

Runs each notebook of a complete submission the way the autograder does (NBGRADER_EXECUTION set,
one BLAS thread) and reads the kernel's own CPU clock between phases: start-up (a normal start,
then a fork from the warm zygote), the grading guard, the setup cell, the checks, and the
demonstration cells the grader skips. CPU seconds, unlike wall-clock seconds, barely change when
other work shares the machine.

    python bench/bench_grading_phases.py
"""
from __future__ import annotations

import os
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["NBGRADER_EXECUTION"] = "autograde"

import nbformat  # noqa: E402 (after the environment it must see)
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from instructor.course import ASSIGNMENT, ROOT, solution_answers  # noqa: E402
from instructor.forkserver import ForkingKernelManager  # noqa: E402
from instructor.guard import BOOTSTRAP  # noqa: E402

CPU = "import resource as _r\n_u = _r.getrusage(_r.RUSAGE_SELF)\nprint(_u.ru_utime + _u.ru_stime)\ndel _r, _u"
PHASES = ("start-up", "guard", "setup cell", "checks", "skipped demos")


def _complete(notebook: str, answers: dict[str, str]) -> nbformat.NotebookNode:
    """Return the practice copy of ``notebook`` with the solutions' answers pasted in."""
    nb = nbformat.read(ROOT / "notebooks" / ASSIGNMENT / f"{notebook}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def phases(nb: nbformat.NotebookNode, forked: bool) -> dict[str, float]:
    """Return the kernel's CPU seconds per phase for one notebook, and the wall seconds to start it."""
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            kernel_manager_class=ForkingKernelManager if forked else AsyncKernelManager,
                            extra_arguments=["--HistoryManager.hist_file=:memory:"])
    marks: list[float] = []

    def clock() -> None:
        cell = nbformat.v4.new_code_cell(CPU)
        client.execute_cell(cell, 0)
        marks.append(float(cell.outputs[0]["text"]))

    last = max(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade"))
    start = time.perf_counter()
    with client.setup_kernel():
        client.wait_for_reply(client.kc.kernel_info())
        wall = time.perf_counter() - start
        clock()
        client.execute_cell(nbformat.v4.new_code_cell(BOOTSTRAP), 0)
        clock()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)
            if "setup" in cell.metadata.get("nbgrader", {}).get("grade_id", "") or index == last:
                clock()
        clock()
    spent = [marks[0]] + [b - a for a, b in zip(marks, marks[1:])]
    return {**dict(zip(PHASES, spent)), "start wall": wall}


def main() -> None:
    answers = solution_answers(ROOT)
    print(f"{'notebook':<18} {'kernel':<7}" + "".join(f"{p:>14}" for p in PHASES) + f"{'start (wall)':>14}")
    totals = {False: 0.0, True: 0.0}
    for forked in (False, True):
        for notebook in answers:
            row = phases(_complete(notebook, answers[notebook]), forked)
            totals[forked] += sum(row[p] for p in PHASES[:4])
            print(f"{notebook:<18} {'forked' if forked else 'plain':<7}"
                  + "".join(f"{row[p]:>14.2f}" for p in PHASES) + f"{row['start wall']:>14.2f}")
    print(f"kernel CPU per submission while grading (demos skipped): plain {totals[False]:.1f} s, "
          f"forked {totals[True]:.1f} s")


if __name__ == "__main__":
    main()
