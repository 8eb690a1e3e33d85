"""Print how long autograding takes: nbgrader alone, the lab's runner on one core and on all cores.

Grades synthetic classes of complete submissions (the solutions' answers in the practice copies)
in scratch courses and ends with the line ``class of 100 on this machine: M min``.

    python bench/bench_autograde.py [--students 100] [--serial 6]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from instructor.course import ASSIGNMENT, make_scratch_course, nbgrader, write_complete_submission


def scratch_class(folder: Path, students: int) -> Path:
    """Return a released scratch course holding ``students`` complete submissions."""
    course = make_scratch_course(folder)
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    for k in range(students):
        write_complete_submission(course, f"student{k:03d}")
    return course


def timed(command: list[str], course: Path) -> float:
    """Run ``command`` in ``course``; return its wall-clock seconds (exit on failure)."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    start = time.perf_counter()
    result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit((result.stdout + result.stderr)[-3000:])
    return seconds


def runner(course: Path, *args: str) -> list[str]:
    """Return the command line of the lab's autograde runner for ``course``."""
    return [sys.executable, "-m", "instructor.autograde", "--course", str(course), *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100, help="class size graded on all cores (default 100)")
    parser.add_argument("--serial", type=int, default=6, help="class size for the one-core runs (default 6)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        plain = timed([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--GradingExecute.sandbox=False", "--GradingExecute.fork_kernels=False",
                       "--GradingExecute.skip_after_last_check=False"], scratch_class(root / "plain", args.serial))
        one = timed(runner(scratch_class(root / "one", args.serial), "--jobs", "1"), root / "one")
        full = timed(runner(scratch_class(root / "all", args.students)), root / "all")
    n, m = args.serial, args.students
    print(f"nbgrader autograde as before, {n} complete submissions on one core (every cell, kernels started "
          f"normally): {plain:.1f} s = {plain / n:.1f} s per submission")
    print(f"lab runner --jobs 1, {n} complete submissions (forked kernels): {one:.1f} s = {one / n:.1f} s per submission")
    print(f"lab runner on {cores} cores, {m} complete submissions: {full:.1f} s = {full / m:.2f} s per submission")
    print(f"class of 100 on this machine: {full / m * 100 / 60:.1f} min")


if __name__ == "__main__":
    main()
