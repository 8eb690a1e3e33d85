"""Print nbgrader's seconds per submission, autograding a batch of complete submissions in one call."""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from helpers.course import ASSIGNMENT, make_scratch_course, nbgrader, write_complete_submission


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=10, help="submissions in the batch (default 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        course = make_scratch_course(Path(folder) / "course")
        assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
        for k in range(args.students):
            write_complete_submission(course, f"student{k:03d}")
        start = time.perf_counter()
        result = nbgrader(course, "autograde", ASSIGNMENT)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
    print(f"autograde: {args.students} complete submissions (4 notebooks each) in {seconds:.1f} s = "
          f"{seconds / args.students:.1f} s per submission (target <= 30 s); "
          f"a class of 100: about {seconds / args.students * 100 / 60:.0f} min")


if __name__ == "__main__":
    main()
