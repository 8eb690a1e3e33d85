"""Print the seconds needed to run every solution notebook top to bottom (targets: <= 150 s for 01-04, <= 60 s for 05)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions" / "ch8"


def run_notebook(path: Path) -> float:
    """Execute one notebook in memory (the file is not rewritten); return wall seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    total = 0.0
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        seconds = run_notebook(path)
        total += seconds
        print(f"{path.name:<26} {seconds:6.1f} s", flush=True)
    print(f"all solution notebooks: {total:.1f} s (target <= 150 s for 01-04, <= 60 s for 05_evidence alone; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
