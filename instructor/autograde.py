"""Autograde a whole class on all cores, show progress, and say what could not be fully graded.

    python -m instructor.autograde [--course DIR] [--jobs N] [--student ID ...] [--Class.trait=value ...]
    (python3 tasks.py autograde)

Each worker process loads nbgrader once and grades one student at a time through nbgrader's own
API (``NbGraderAPI.autograde``, what the formgrader's button calls), with the course's
nbgrader_config.py and any ``--Class.trait=value`` given here; the grades, autograded notebooks
and gradebook rows are exactly those of ``nbgrader autograde`` run one student after another.
Kernels get one BLAS thread each, so N workers use N cores and the numbers do not depend on N.

At the end: a summary (graded / partly graded, and why / not graded, and why) on screen and in
course/autograde_summary.csv (student, notebook, status, reason, seconds), and the integrity scan
(course/integrity.csv). The exit status is 1 if nbgrader failed on a submission, else 0.
"""
from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ASSIGNMENT = "ch8"
THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class Outcome:
    """What grading one student's submission gave."""

    student: str
    ok: bool
    seconds: float
    log: str


def _load_config(course: Path, overrides: list[str]):
    """Return the traitlets Config of the course's nbgrader_config.py with command-line overrides on top."""
    from traitlets.config.loader import KVArgParseConfigLoader, PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    if overrides:
        config.merge(KVArgParseConfigLoader(overrides).load_config())
    return config


_API = None  # one NbGraderAPI per worker process, made by _start_worker


def _start_worker(course: str, overrides: list[str]) -> None:
    """Load nbgrader and the course's configuration once in this worker process."""
    global _API
    import logging

    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    os.chdir(course)
    config = _load_config(Path(course), overrides)
    coursedir = CourseDirectory(config=config)
    _API = NbGraderAPI(coursedir=coursedir, config=config)
    _API.log.setLevel(logging.INFO)


def _grade(job: tuple[str, bool]) -> Outcome:
    """Autograde one student's submission in this worker (again if ``force``); never raise."""
    student, force = job
    start = time.perf_counter()
    try:
        result = _API.autograde(ASSIGNMENT, student, force=force, create=True)
        ok, log = bool(result.get("success")), (result.get("log") or "") + (result.get("error") or "")
    except Exception as error:  # noqa: BLE001 (one student's problem must not stop the class)
        ok, log = False, f"{type(error).__name__}: {error}"
    return Outcome(student, ok, round(time.perf_counter() - start, 2), log)


def _progress(done: int, failed: int, total: int, seconds: float, jobs: int, last: str) -> str:
    """Return one line of progress: counts, seconds per submission, the last student."""
    per = seconds / max(done, 1)
    return (f"[{done:>3}/{total}] graded {done - failed} · failed {failed} · left {total - done} · "
            f"{per:.1f} s per submission on {jobs} core(s) · last: {last}")


def grade_class(course: Path, students: list[str], jobs: int, overrides: list[str], force: bool = False,
                echo=print) -> list[Outcome]:
    """Grade ``students`` with ``jobs`` worker processes; return one Outcome per student."""
    for name in THREADS:
        os.environ[name] = "1"  # inherited by every kernel: N workers, N cores, same numbers
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state from the caller
    outcomes, failed, start = [], 0, time.perf_counter()
    live = sys.stdout.isatty()
    with context.Pool(jobs, initializer=_start_worker, initargs=(str(course), overrides)) as pool:
        for outcome in pool.imap_unordered(_grade, [(student, force) for student in students]):
            outcomes.append(outcome)
            failed += not outcome.ok
            line = _progress(len(outcomes), failed, len(students), time.perf_counter() - start, jobs,
                             outcome.student)
            echo(("\r" + line.ljust(110)) if live else line, end="" if live else "\n")
    if live:
        echo("")
    return sorted(outcomes, key=lambda o: o.student)


def _unreadable_only(course: Path, overrides: list[str], outcome: Outcome) -> Outcome:
    """For a submission nbgrader gave up on because none of its files is a notebook, record them as such."""
    if outcome.ok:
        return outcome
    config = _load_config(course, overrides)
    hook = getattr(config.Autograde.get("pre_convert_hook"), "__self__", None)  # the course's UnreadableNotebooks
    submission = course / "course" / "submitted" / outcome.student / ASSIGNMENT
    files = list(submission.glob("*.ipynb"))
    if hook is None or not files:
        return outcome
    recorded = hook.record_all(submission, config.CourseDirectory.db_url)
    return Outcome(outcome.student, len(recorded) == len(files), outcome.seconds, outcome.log)


def _prepare_gradebook(course: Path, overrides: list[str]) -> str | None:
    """Create the gradebook's tables before the workers start (they would all try at once otherwise).

    Returns what is missing for grading, in words, or None when the assignment is ready.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from instructor.gradebook import prepare

    config = _load_config(course, overrides)
    prepare(config.CourseDirectory.db_url, config.CourseDirectory.course_id)
    with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gb:
        try:
            gb.find_assignment(ASSIGNMENT)
        except MissingEntry:
            return (f"The gradebook does not know the assignment {ASSIGNMENT} yet: run `python3 tasks.py release` "
                    "(nbgrader generate_assignment) once, then autograde again.")
    return None


def _notebooks(course: Path) -> list[str]:
    """Return the assignment's notebook names, from the released copies."""
    return sorted(p.stem for p in (course / "notebooks" / ASSIGNMENT).glob("*.ipynb"))


def summarise(course: Path, outcomes: list[Outcome]) -> list[dict[str, str]]:
    """Return one row per student and notebook: status (graded / partly graded / not graded), reason, seconds."""
    rows = []
    status_dir = course / "course" / "grading_status"
    for outcome in outcomes:
        for notebook in _notebooks(course):
            record_path = status_dir / outcome.student / f"{notebook}.json"
            submitted = course / "course" / "submitted" / outcome.student / ASSIGNMENT / f"{notebook}.ipynb"
            if not submitted.exists():
                row = {"status": "not graded", "reason": f"{notebook}.ipynb was not handed in (scores 0)"}
            elif not outcome.ok:
                row = {"status": "not graded", "reason": "nbgrader could not grade this submission (see "
                       f"course/grading_status/{outcome.student}/autograde.log)"}
            elif record_path.exists():
                record = json.loads(record_path.read_text())
                row = {"status": record["status"], "reason": record.get("reason", ""),
                       "seconds": record.get("seconds", "")}
            else:
                row = {"status": "not graded", "reason": "no grading record was written (see the log)"}
            rows.append({"student": outcome.student, "notebook": notebook, "seconds": "", **row})
    return rows


def write_summary(rows: list[dict[str, str]], path: Path) -> None:
    """Write the summary rows to ``path`` as CSV."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["student", "notebook", "status", "reason", "seconds"])
        writer.writeheader()
        writer.writerows(rows)


def summary_text(rows: list[dict[str, str]], outcomes: list[Outcome], wall: float, jobs: int) -> str:
    """Return the closing summary: counts, then every notebook that was not fully graded and why."""
    counts = {status: sum(r["status"] == status for r in rows) for status in ("graded", "partly graded", "not graded")}
    lines = [f"Autograded {len(outcomes)} submission(s) in {wall:.0f} s on {jobs} core(s) "
             f"({wall / max(len(outcomes), 1):.1f} s per submission).",
             f"Notebooks: {counts['graded']} graded, {counts['partly graded']} partly graded, "
             f"{counts['not graded']} not graded."]
    handed_in = [r for r in rows if r["status"] != "graded" and "was not handed in" not in r["reason"]]
    missing = len([r for r in rows if "was not handed in" in r["reason"]])
    for row in handed_in:
        lines.append(f"  {row['status']:<13} {row['student']} / {row['notebook']}: {row['reason']}")
    if missing:
        lines.append(f"  not graded    {missing} notebook(s) not handed in (they score 0; listed in the CSV)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Grade the class, then print and write the summary and the integrity scan."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="the course folder (default: here)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                        else os.cpu_count(), help="submissions graded at once (default: all cores)")
    parser.add_argument("--student", action="append", default=[], help="grade only this student (repeatable)")
    parser.add_argument("--force", action="store_true", help="grade again submissions already autograded")
    args, overrides = parser.parse_known_args(argv)
    bad = [o for o in overrides if not o.startswith("--") or "=" not in o]
    if bad:
        parser.error(f"unknown arguments {bad}: nbgrader settings are given as --Class.trait=value")
    course = args.course.resolve()
    submitted = course / "course" / "submitted"
    students = sorted(p.parent.name for p in submitted.glob(f"*/{ASSIGNMENT}") if p.is_dir())
    if args.student:
        unknown = sorted(set(args.student) - set(students))
        if unknown:
            print(f"No submission in {submitted} for: {', '.join(unknown)}", file=sys.stderr)
            return 2
        students = sorted(args.student)
    if not students:
        print(f"Nothing to grade: no folder {submitted}/<student>/{ASSIGNMENT}/. Collect the submissions "
              "first (python3 tasks.py collect, zip_collect, or copy them there).", file=sys.stderr)
        return 2
    jobs = max(1, min(args.jobs, len(students)))
    missing = _prepare_gradebook(course, overrides)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    print(f"Autograding {len(students)} submission(s) of {ASSIGNMENT} with {jobs} worker(s) ...", flush=True)
    start = time.perf_counter()
    outcomes = grade_class(course, students, jobs, overrides, force=args.force)
    outcomes = [_unreadable_only(course, overrides, outcome) for outcome in outcomes]
    wall = time.perf_counter() - start
    for outcome in outcomes:
        log = course / "course" / "grading_status" / outcome.student / "autograde.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(outcome.log)
    rows = summarise(course, outcomes)
    write_summary(rows, course / "course" / "autograde_summary.csv")
    print(summary_text(rows, outcomes, wall, jobs))
    print(f"Summary written: {course / 'course' / 'autograde_summary.csv'}")
    from instructor.integrity import main as integrity

    integrity(["--course", str(course)])
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
