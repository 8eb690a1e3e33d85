"""Regenerate the lab guide's figures by running the solution notebooks.

    python labguide/make_figures.py                  # all five notebooks, about 3.5 minutes
    python labguide/make_figures.py 03_dropout       # only the notebooks whose names contain this

Each notebook in solutions/ch8/ is read, executed top to bottom with nbclient (kernel "python3",
600 s per cell, working folder = the notebook's folder) and thrown away: the files in solutions/
are never written. The kernel gets LABGUIDE_FIGURES=<repo>/labguide/figures, which makes the
notebooks' save_figure() calls write their PNGs there, so every figure comes from exactly the
computation the notebook runs. NBGRADER_EXECUTION is removed from the environment so that the
full-length runs happen (with it set the notebooks cut their training short).

MNIST is found as usual (MNIST_DIR, then the cache, then a download); set MNIST_DIR to work offline.
Every figure written is printed; a figure left in labguide/figures that no notebook wrote this time
is reported at the end (delete it or drop it from the guide).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "solutions" / "ch8").glob("[0-9][0-9]_*.ipynb"))
FIGURES = REPO / "labguide" / "figures"
KERNEL = "python3"
CELL_TIMEOUT_S = 600


def _snapshot() -> dict[Path, int]:
    """Return the modification time (ns) of every PNG now in the figures folder."""
    return {p: p.stat().st_mtime_ns for p in FIGURES.glob("*.png")}


def run_notebook(path: Path) -> list[Path]:
    """Execute an in-memory copy of the notebook at ``path``; return the figures its cells wrote."""
    nb = nbformat.read(path, as_version=4)  # the file itself is only read, never written back
    written: list[Path] = []
    before: dict[Path, int] = {}

    def on_cell_start(cell, cell_index):
        before.clear()
        before.update(_snapshot())

    def on_cell_executed(cell, cell_index, execute_reply):
        for png, mtime in sorted(_snapshot().items()):
            if before.get(png) != mtime:
                written.append(png)
                print(f"    wrote {png.relative_to(REPO)}  (cell {cell.get('id', cell_index)})", flush=True)

    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=on_cell_start,
        on_cell_executed=on_cell_executed,
    )
    client.execute()
    return written


def main(argv: list[str]) -> int:
    """Run the selected notebooks (all by default); return the exit status."""
    selected = [nb for nb in NOTEBOOKS if not argv or any(word in nb.name for word in argv)]
    if not selected:
        print(f"No notebook in {REPO / 'solutions' / 'ch8'} matches {argv}.", file=sys.stderr)
        return 2
    FIGURES.mkdir(parents=True, exist_ok=True)
    # The kernel inherits this process's environment.
    os.environ["LABGUIDE_FIGURES"] = str(FIGURES)
    os.environ.pop("NBGRADER_EXECUTION", None)

    all_written: set[Path] = set()
    for path in selected:
        print(f"running {path.relative_to(REPO)} ...", flush=True)
        start = time.perf_counter()
        try:
            written = run_notebook(path)
        except CellExecutionError as error:
            print(f"FAILED: {path.relative_to(REPO)}\n{error}", file=sys.stderr)
            return 1
        all_written.update(written)
        print(f"  done in {time.perf_counter() - start:.0f} s, {len(written)} figure(s)", flush=True)

    if not argv:
        stale = sorted(set(FIGURES.glob("*.png")) - all_written)
        for png in stale:
            print(f"note: {png.relative_to(REPO)} was not written by any notebook this time", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
