"""The autograde summary: what happened to every notebook of every submission, from the grading records.

One row per student and notebook (student, notebook, status, reason, seconds), written to the
course's summary CSV (``c.LabCourse.summary``, default course/autograde_summary.csv). Whoever
graded (``python3 tasks.py autograde``, ``nbgrader autograde``, the formgrader's button), the rows
come from the same records (instructor/verdicts.py), so they say the same thing.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from instructor.settings import CourseSettings
from instructor.verdicts import read_record, record_path

COLUMNS = ["student", "notebook", "status", "reason", "seconds"]


def students(settings: CourseSettings) -> list[str]:
    """Return every student with a submission folder for the assignment."""
    return sorted(path.parent.name for path in settings.submitted.glob(f"*/{settings.assignment}") if path.is_dir())


def rows(settings: CourseSettings, who: list[str] | None = None, failed: dict[str, str] | None = None
         ) -> list[dict[str, str]]:
    """Return one row per student and notebook: status (graded / partly graded / not graded), reason, seconds.

    ``failed`` maps students whose grading did not finish to why (from the runner).
    """
    found, failed = [], failed or {}
    for student in who if who is not None else students(settings):
        for notebook in settings.notebooks():
            row = {"student": student, "notebook": notebook, "seconds": ""}
            record = read_record(record_path(settings.status_dir, student, notebook))
            if not (settings.submission(student) / f"{notebook}.ipynb").exists():
                row.update(status="not graded", reason=f"{notebook}.ipynb was not handed in (scores 0)")
            elif student in failed:
                row.update(status="not graded", reason=failed[student])
            elif record is not None:
                row.update(status=record.status, reason=record.reason, seconds=str(record.seconds))
            else:
                row.update(status="not graded", reason="grading did not finish for this submission (see "
                           f"{settings.status_dir / student / 'autograde.log'} or nbgrader's log)")
            found.append(row)
    return found


@contextlib.contextmanager
def locked(settings: CourseSettings) -> Iterator[None]:
    """Hold the course's summary lock (several graders may finish a student at the same moment)."""
    settings.status_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.status_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_csv(path: Path, columns: list[str], table: list[dict[str, str]]) -> None:
    """Write ``table`` to ``path`` as CSV, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", newline="") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        writer.writerows(table)
    os.replace(temporary, path)


def write_summary(settings: CourseSettings, failed: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Write the summary of every submission to the course's summary CSV; return its rows."""
    table = rows(settings, failed=failed)
    write_csv(settings.summary, COLUMNS, table)
    return table


def summary_text(table: list[dict[str, str]], graded: int, wall: float, jobs: int) -> str:
    """Return the closing summary: counts, then every notebook that was not fully graded and why."""
    counts = {status: sum(r["status"] == status for r in table) for status in ("graded", "partly graded", "not graded")}
    lines = [f"Autograded {graded} submission(s) in {wall:.0f} s on {jobs} core(s) "
             f"({wall / max(graded, 1):.1f} s per submission).",
             f"Notebooks: {counts['graded']} graded, {counts['partly graded']} partly graded, "
             f"{counts['not graded']} not graded."]
    handed_in = [r for r in table if r["status"] != "graded" and "was not handed in" not in r["reason"]]
    missing = len([r for r in table if "was not handed in" in r["reason"]])
    for row in handed_in:
        lines.append(f"  {row['status']:<13} {row['student']} / {row['notebook']}: {row['reason']}")
    if missing:
        lines.append(f"  not graded    {missing} notebook(s) not handed in (they score 0; listed in the CSV)")
    return "\n".join(lines)


def written_text(settings: CourseSettings, who: list[str] | None = None) -> str:
    """Return one line on the written answers of ``who``: how many wait for a grader, are graded, were left blank."""
    from instructor.written import answers

    states = [answer.state for answer in answers(settings, who)]
    if not states:
        return ""
    return (f"Written answers: {states.count('waiting')} waiting for grading by hand (formgrader, Manual Grading), "
            f"{states.count('graded')} graded, {states.count('blank')} left blank (0 points; the grader sees "
            '"No response.").')
