"""How a notebook's grade is recorded: one verdict per check, one record per notebook, one writer.

A *verdict* says, for one graded check of one student's notebook, how many points it earned and
why, in the words the student reads. The grading Execute (instructor/nbgrader_steps.py) makes
them, for checks that ran (decided in the grader: instructor/checker.py) and checks that could not
run (the kernel died, the time budget ran out); ``UnreadableNotebooks`` makes them for a file that
is not a notebook. Everything downstream reads them, never its own guess:

* the check cell's outputs are written from the verdict (``outputs``), so nbgrader's score for the
  cell, the feedback page and the verdict cannot disagree;
* the notebook's *record* (``course/grading_status/<student>/<notebook>.json``, the folder set by
  ``GradingExecute.status_dir``) holds the verdicts, the notebook's status (graded, partly graded,
  not graded) and why; the autograde summary, the class report and the integrity table read it.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

NOT_RUN = "NotRun"  # ename of the error output put in a graded cell that grading could not run
STOPPED = "KernelStopped"  # ename of the error output in the cell during which the kernel died
WHY = ("passed", "check failed", "timed out", "check error", "no answer", "channel", "not run", "kernel stopped",
       "unreadable")
"""Why a check earned what it earned: it passed; its check said what is wrong; a function it called ran past
the time limit; the check's own code met a value it could not handle; the kernel never served the check;
the kernel broke the channel while the check ran; it could not run (time budget, an earlier crash); the
kernel died while it ran; the file was not a notebook."""


@dataclass
class Verdict:
    """One graded check of one notebook: its points and why, in the words the student reads."""

    check: str
    points: float
    max_points: float
    why: str
    message: str = ""  # what the student reads when points were lost ('' when the check passed)
    printed: str = ""  # what the check printed ("Mean error: OK ...")
    cpu: float = 0.0  # CPU seconds the check's own code used in the grader (for the autograding benchmark)

    @property
    def passed(self) -> bool:
        """Whether the check earned its points."""
        return self.why == "passed"


@dataclass
class Record:
    """What grading did with one student's notebook."""

    student: str
    notebook: str
    status: str = "graded"  # graded | partly graded | not graded
    reason: str = ""
    seconds: float | str = ""
    sandbox: str = "on"
    verdicts: list[Verdict] = field(default_factory=list)

    def partly(self, reason: str) -> None:
        """Mark the notebook as partly graded (the first reason stays)."""
        if self.status == "graded":
            self.status, self.reason = "partly graded", reason


def error_output(ename: str, message: str, traceback: list[str] | None = None) -> NotebookNode:
    """Return an error output showing ``message`` (no code, no frames)."""
    return nbformat.v4.new_output("error", ename=ename, evalue=message,
                                  traceback=traceback or [f"\x1b[0;31m{ename}\x1b[0m: {message}"])


def note(text: str) -> NotebookNode:
    """Return a plain stdout output."""
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def outputs(verdict: Verdict, before: list[NotebookNode], ename: str = "", traceback: list[str] | None = None
            ) -> list[NotebookNode]:
    """Return a check cell's outputs for ``verdict``: the kernel's own output first, then the check's.

    nbgrader scores a graded cell 0 if and only if one of its outputs is an error (or text on
    stderr), and reads a displayed value as partial credit: the kernel's outputs are therefore
    made neutral (plain text and displays), and an error output is there exactly when the
    verdict lost the points.
    """
    cell = [_neutral(output) for output in before]
    if verdict.printed:
        cell.append(note(verdict.printed))
    if not verdict.passed:
        cell.append(error_output(ename or ("CheckFailed" if verdict.why != "not run" else NOT_RUN),
                                 verdict.message, traceback))
    return cell


def _neutral(output: NotebookNode) -> NotebookNode:
    """Return ``output`` as something that neither earns nor costs points (shown to the student as it was)."""
    kind = output.get("output_type")
    if kind == "execute_result":
        output["output_type"] = "display_data"
        output.pop("execution_count", None)
    elif kind == "stream" and output.get("name") == "stderr":
        output["name"] = "stdout"
    elif kind == "error":
        output = note(f"{output.get('ename', '')}: {output.get('evalue', '')}\n")
    return output


def record_path(status_dir: Path, student: str, notebook: str) -> Path:
    """Return where the record of one student's notebook lives."""
    return Path(status_dir) / student / f"{notebook}.json"


def write_record(status_dir: Path, record: Record) -> Path:
    """Write ``record`` (atomically: a reader never sees half of it); return its path."""
    path = record_path(status_dir, record.student, record.notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump(asdict(record), out)
    os.replace(temporary, path)
    return path


def read_record(path: Path) -> Record | None:
    """Return the record in ``path``, or None if it is missing or not one."""
    try:
        data = json.loads(Path(path).read_text())
        verdicts = [Verdict(**v) for v in data.pop("verdicts", [])]
        return Record(**{k: v for k, v in data.items() if k in Record.__dataclass_fields__}, verdicts=verdicts)
    except (OSError, ValueError, TypeError):
        return None


def read_records(status_dir: Path, student: str = "*") -> list[Record]:
    """Return the notebook records under ``status_dir`` (of one ``student``, or all), by student then notebook."""
    found = (read_record(path) for path in sorted(Path(status_dir).glob(f"{student}/*.json")))
    return [record for record in found if record is not None]
