"""Print nbgrader's autograde seconds for one complete submission, and per submission in a batch."""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from instructor.course import ASSIGNMENT, make_scratch_course, nbgrader, write_complete_submission


def autograde_seconds(folder: Path, students: int) -> float:
    """Make a scratch course with ``students`` complete submissions, autograde them in one call; return seconds."""
    course = make_scratch_course(folder)
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    for k in range(students):
        write_complete_submission(course, f"student{k:03d}")
    start = time.perf_counter()
    result = nbgrader(course, "autograde", ASSIGNMENT)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=10, help="submissions in the batch (default 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        one = autograde_seconds(Path(folder) / "one", 1)
        batch = autograde_seconds(Path(folder) / "batch", args.students)
    per = batch / args.students
    print(f"autograde, one complete submission (all notebooks): {one:.1f} s (target <= 30 s)")
    print(f"autograde, {args.students} complete submissions in one call: {batch:.1f} s = {per:.1f} s per "
          f"submission; a class of 100: about {per * 100 / 60:.0f} min")


if __name__ == "__main__":
    main()
