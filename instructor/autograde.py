"""Autograde a whole class on all cores, show progress, and say what could not be fully graded.

    python -m instructor.autograde [--course DIR] [--jobs N] [--student ID ...] [--force] [--no-sandbox]
                                   [--Class.trait=value ...]            (python3 tasks.py autograde)

Each worker process loads nbgrader once and grades one student at a time through nbgrader's own
API (``NbGraderAPI.autograde``, what the formgrader's button calls), with the course's
nbgrader_config.py and any ``--Class.trait=value`` given here; the grades, autograded notebooks
and gradebook rows are exactly those of ``nbgrader autograde`` run one student after another.
Kernels get one BLAS thread each, so N workers use N cores and the numbers do not depend on N.
Every kernel runs in the grading sandbox (instructor/sandbox.py); if it cannot start here,
nothing is graded and the message says what to install. ``--no-sandbox`` is for trusted settings.

Every wait is bounded: a worker that dies or takes longer than a submission can take is ended,
that submission is reported as not graded (and why), and a new worker grades the rest.

At the end: a summary (graded / partly graded, and why / not graded, and why) on screen and in
the course's summary CSV (course/autograde_summary.csv), one line saying how many written answers
wait for grading by hand in the formgrader (instructor/written.py), and the integrity scan
(course/integrity.csv). The exit status is 1 if a submission could not be graded, else 0.
"""
from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.connection
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.notebook import BLAS_THREADS
from instructor.settings import CourseSettings, course_settings, load_config
from instructor.summary import summary_text, write_summary, written_text

RUNNER = "CH8_AUTOGRADE_RUNNER"  # set in the workers: the runner writes the summary and the scan once, at the end


@dataclass(frozen=True)
class Outcome:
    """What grading one student's submission gave."""

    student: str
    ok: bool
    seconds: float
    log: str
    reason: str = ""  # why it could not be graded, in words ('' when it was)


def _serve(connection, course: str, overrides: list[str]) -> None:
    """A worker: load nbgrader and the course once, then grade each student the runner sends until it sends None."""
    import logging

    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    os.environ[RUNNER] = "1"
    os.chdir(course)
    config = load_config(Path(course), overrides)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    api.log.setLevel(logging.INFO)
    assignment = course_settings(Path(course), config=config).assignment
    while True:
        job = connection.recv()
        if job is None:
            break
        student, force = job
        start = time.perf_counter()
        try:
            result = api.autograde(assignment, student, force=force, create=True)
            ok, log = bool(result.get("success")), (result.get("log") or "") + (result.get("error") or "")
        except Exception as error:  # noqa: BLE001 (one student's problem must not stop the class)
            ok, log = False, f"{type(error).__name__}: {error}"
        reason = "" if ok else "nbgrader could not grade this submission (see its autograde.log)"
        connection.send(Outcome(student, ok, round(time.perf_counter() - start, 2), log, reason))


class _Worker:
    """One grading process and the submission it is grading."""

    def __init__(self, context, course: Path, overrides: list[str]):
        self.connection, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, str(course), overrides), daemon=True)
        self.process.start()
        theirs.close()
        self.student: str | None = None
        self.started = 0.0

    def give(self, student: str, force: bool) -> None:
        """Send one student to grade."""
        self.student, self.started = student, time.perf_counter()
        self.connection.send((student, force))

    def end(self, now: bool = False) -> None:
        """Stop the worker: politely (it finishes cleaning up) or at once."""
        if not now:
            try:
                self.connection.send(None)
            except OSError:
                pass
            self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)


def submission_limit(config, notebooks: int) -> float:
    """Return the seconds one submission may take before its worker is ended (a budget per notebook, plus start-up)."""
    per_notebook = int(config.GradingExecute.get("notebook_timeout", 300)) or 300
    return notebooks * (per_notebook + 60) + 120


def grade_class(course: Path, students: list[str], jobs: int, overrides: list[str], force: bool = False,
                echo=print, limit: float = 3600.0) -> list[Outcome]:
    """Grade ``students`` with ``jobs`` worker processes; return one Outcome per student."""
    for name in BLAS_THREADS:
        os.environ[name] = "1"  # inherited by every kernel: N workers, N cores, same numbers
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state from the caller
    from instructor.forkserver import SCRATCH
    from instructor.sandbox import scratch_base

    # one folder for every worker's kernels: removed at the end even if a worker had to be killed
    scratch = Path(tempfile.mkdtemp(prefix="ch8-run-", dir=scratch_base()))
    scratch.chmod(0o711)
    os.environ[SCRATCH] = str(scratch)
    waiting, outcomes, failed, start = list(reversed(students)), [], 0, time.perf_counter()
    live = sys.stdout.isatty()
    workers = [_Worker(context, course, overrides) for _ in range(jobs)]
    try:
        while waiting or any(w.student for w in workers):
            for worker in workers:
                if worker.student is None and waiting:
                    worker.give(waiting.pop(), force)
            busy = [w for w in workers if w.student]
            multiprocessing.connection.wait([w.connection for w in busy] + [w.process.sentinel for w in busy], 1.0)
            for index, worker in enumerate(workers):
                outcome = _collect(worker, limit)
                if outcome is None:
                    continue
                if not worker.process.is_alive() or outcome.reason.startswith("grading took"):
                    worker.end(now=True)
                    workers[index] = _Worker(context, course, overrides)
                outcomes.append(outcome)
                failed += not outcome.ok
                line = _progress(len(outcomes), failed, len(students), time.perf_counter() - start, jobs,
                                 outcome.student)
                echo(("\r" + line.ljust(110)) if live else line, end="" if live else "\n")
    finally:
        for worker in workers:
            worker.end()
        shutil.rmtree(scratch, ignore_errors=True)
    if live:
        echo("")
    return sorted(outcomes, key=lambda o: o.student)


def _collect(worker: _Worker, limit: float) -> Outcome | None:
    """Return the outcome of the worker's submission if it is over (graded, worker dead, or over time), else None."""
    if worker.student is None:
        return None
    student, seconds = worker.student, round(time.perf_counter() - worker.started, 2)
    try:
        if worker.connection.poll():
            outcome = worker.connection.recv()
            worker.student = None
            return outcome
    except (EOFError, OSError):
        pass
    if not worker.process.is_alive():
        worker.student = None
        return Outcome(student, False, seconds, "", f"the grading worker ended (exit code {worker.process.exitcode}) "
                       "while grading this submission; grade it again with --force --student " + student)
    if seconds > limit:
        worker.student = None
        return Outcome(student, False, seconds, "", f"grading took more than {limit:.0f} s and was stopped; "
                       "grade it again with --force --student " + student)
    return None


def _progress(done: int, failed: int, total: int, seconds: float, jobs: int, last: str) -> str:
    """Return one line of progress: counts, seconds per submission, the last student."""
    per = seconds / max(done, 1)
    return (f"[{done:>3}/{total}] graded {done - failed} · failed {failed} · left {total - done} · "
            f"{per:.1f} s per submission on {jobs} core(s) · last: {last}")


def _unreadable_only(settings: CourseSettings, config, outcome: Outcome) -> Outcome:
    """For a submission nbgrader gave up on because none of its files is a notebook, record them as such."""
    if outcome.ok or outcome.reason.startswith(("the grading worker", "grading took")):
        return outcome
    hook = getattr(config.Autograde.get("pre_convert_hook"), "__self__", None)  # the course's grading hooks
    submission = settings.submission(outcome.student)
    files = list(submission.glob("*.ipynb"))
    if hook is None or not files or not hasattr(hook, "record_all"):
        return outcome
    recorded = hook.record_all(submission, settings.db_url)
    ok = len(recorded) == len(files)
    return Outcome(outcome.student, ok, outcome.seconds, outcome.log, "" if ok else outcome.reason)


def _sandboxed(config) -> bool:
    """Return whether the configuration (file and command line) grades in the sandbox."""
    from traitlets import Bool

    value = config.GradingExecute.get("sandbox", True)
    return value if isinstance(value, bool) else Bool().from_string(str(value))


def _prepare_gradebook(settings: CourseSettings) -> str | None:
    """Create the gradebook's tables before the workers start (they would all try at once otherwise).

    Returns what is missing for grading, in words, or None when the assignment is ready.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from instructor.gradebook import prepare

    prepare(settings.db_url, settings.course_id)
    with Gradebook(settings.db_url, settings.course_id) as gb:
        try:
            gb.find_assignment(settings.assignment)
        except MissingEntry:
            return (f"The gradebook does not know the assignment {settings.assignment} yet: run `python3 tasks.py "
                    "release` (nbgrader generate_assignment) once, then autograde again.")
    return None


def main(argv: list[str] | None = None) -> int:
    """Grade the class, then print and write the summary and the integrity scan."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="the course folder (default: here)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                        else os.cpu_count(), help="submissions graded at once (default: all cores)")
    parser.add_argument("--student", action="append", default=[], help="grade only this student (repeatable)")
    parser.add_argument("--force", action="store_true", help="grade again submissions already autograded")
    parser.add_argument("--submission-timeout", type=float, default=0,
                        help="seconds one submission may take before its worker is ended (default: the notebooks' "
                             "time budgets plus a margin)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run the students' code without the grading sandbox (only for submissions you trust)")
    args, overrides = parser.parse_known_args(argv)
    bad = [o for o in overrides if not o.startswith("--") or "=" not in o]
    if bad:
        parser.error(f"unknown arguments {bad}: nbgrader settings are given as --Class.trait=value")
    if args.no_sandbox:
        overrides.append("--GradingExecute.sandbox=False")
    course = args.course.resolve()
    config = load_config(course, overrides)
    settings = course_settings(course, config=config)
    if _sandboxed(config):
        from instructor.sandbox import problem

        missing = problem()
        if missing:
            print(f"Autograding stopped before it began: {missing}", file=sys.stderr)
            return 2
    else:
        print("WARNING: grading without the sandbox (--no-sandbox): the students' code runs with your rights, can "
              "read the solutions and the gradebook and can leave processes behind. Only for submissions you "
              "trust.", file=sys.stderr, flush=True)
    everyone = sorted(p.parent.name for p in settings.submitted.glob(f"*/{settings.assignment}") if p.is_dir())
    students = everyone
    if args.student:
        unknown = sorted(set(args.student) - set(everyone))
        if unknown:
            print(f"No submission in {settings.submitted} for: {', '.join(unknown)}", file=sys.stderr)
            return 2
        students = sorted(args.student)
    if not students:
        print(f"Nothing to grade: no folder {settings.submitted}/<student>/{settings.assignment}/. Collect the "
              "submissions first (nbgrader collect, python3 tasks.py zip_collect, or copy them there).",
              file=sys.stderr)
        return 2
    jobs = max(1, min(args.jobs, len(students)))
    missing = _prepare_gradebook(settings)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    print(f"Autograding {len(students)} submission(s) of {settings.assignment} with {jobs} worker(s) ...", flush=True)
    start = time.perf_counter()
    outcomes = grade_class(course, students, jobs, overrides, force=args.force,
                           limit=args.submission_timeout or submission_limit(config, len(settings.notebooks())))
    outcomes = [_unreadable_only(settings, config, outcome) for outcome in outcomes]
    wall = time.perf_counter() - start
    for outcome in outcomes:
        log = settings.status_dir / outcome.student / "autograde.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(outcome.log + (f"\n{outcome.reason}\n" if outcome.reason else ""))
    failed = {o.student: o.reason for o in outcomes if not o.ok}
    table = write_summary(settings, failed)
    print(summary_text([r for r in table if r["student"] in set(students)], len(outcomes), wall, jobs))
    written = written_text(settings, students)  # autograding leaves these to a person
    if written:
        print(written)
    print(f"Summary written: {settings.summary}")
    from instructor.integrity import main as integrity

    integrity(["--course", str(course)])
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
