"""Print where a complete submission's grading seconds go, notebook by notebook (CPU seconds).

Runs each notebook of a complete submission in a kernel the way the autograder starts them
(NBGRADER_EXECUTION set, one BLAS thread): started normally, forked from the warm zygote, and forked
into the grading sandbox. It reads the kernel's own CPU clock between phases: start-up, the setup
cell, the checks (run in the kernel here, as in a student's own run; while grading they run in the
grader: bench_autograde.py prints their cost there), and the demonstration cells the grader skips.
CPU seconds, unlike wall-clock seconds, barely change when other work shares the machine.

    python bench/bench_grading_phases.py
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["NBGRADER_EXECUTION"] = "autograde"

import nbformat  # noqa: E402 (after the environment it must see)
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from instructor.course import ASSIGNMENT, ROOT, solution_answers  # noqa: E402
from instructor.forkserver import ForkingKernelManager, stop_zygotes  # noqa: E402

CPU = "import resource as _r\n_u = _r.getrusage(_r.RUSAGE_SELF)\nprint(_u.ru_utime + _u.ru_stime)\ndel _r, _u"
PHASES = ("start-up", "setup cell", "checks", "skipped demos")
KINDS = ("plain", "forked", "sandbox")


def _complete(notebook: str, answers: dict[str, str]) -> nbformat.NotebookNode:
    """Return the practice copy of ``notebook`` with the solutions' answers pasted in."""
    nb = nbformat.read(ROOT / "notebooks" / ASSIGNMENT / f"{notebook}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def phases(nb: nbformat.NotebookNode, kind: str) -> dict[str, float]:
    """Return the kernel's CPU seconds per phase for one notebook, and the wall seconds to start it."""
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            kernel_manager_class=AsyncKernelManager if kind == "plain" else ForkingKernelManager,
                            extra_arguments=["--HistoryManager.hist_file=:memory:"])
    if kind != "plain":
        client.km = client.create_kernel_manager()
        client.km.sandbox, client.km.limits = kind == "sandbox", {"memory_mb": 4096, "cpu_seconds": 600}
    marks: list[float] = []

    def clock() -> None:
        cell = nbformat.v4.new_code_cell(CPU)
        client.execute_cell(cell, 0)
        marks.append(float(cell.outputs[0]["text"]))

    last = max(i for i, c in enumerate(nb.cells)  # the last check (written answers are Markdown)
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
    start = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="ch8-phases-")  # the student's folder: the sandbox copies it
    client.resources = {"metadata": {"path": folder}}
    try:
        with client.setup_kernel(cwd=folder):
            client.wait_for_reply(client.kc.kernel_info())
            wall = time.perf_counter() - start
            clock()
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                client.execute_cell(cell, index)
                if "setup" in cell.metadata.get("nbgrader", {}).get("grade_id", "") or index == last:
                    clock()
            clock()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    spent = [marks[0]] + [b - a for a, b in zip(marks, marks[1:])]
    return {**dict(zip(PHASES, spent)), "start wall": wall}


def main() -> None:
    answers = solution_answers(ROOT)
    print(f"{'notebook':<18} {'kernel':<8}" + "".join(f"{p:>14}" for p in PHASES) + f"{'start (wall)':>14}")
    totals = dict.fromkeys(KINDS, 0.0)
    for kind in KINDS:
        for notebook in answers:
            row = phases(_complete(notebook, answers[notebook]), kind)
            totals[kind] += sum(row[p] for p in PHASES[:3])
            print(f"{notebook:<18} {kind:<8}" + "".join(f"{row[p]:>14.2f}" for p in PHASES)
                  + f"{row['start wall']:>14.2f}")
        stop_zygotes()
    print("kernel CPU per submission while grading (demos skipped): "
          + ", ".join(f"{kind} {totals[kind]:.1f} s" for kind in KINDS))


if __name__ == "__main__":
    main()
