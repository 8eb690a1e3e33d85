"""`python3 tasks.py autograde` and plain `nbgrader autograde` give the same grades, pages, summary and scan.

The session's class is graded by the lab's runner on all cores; a sample of it is graded here again
by `nbgrader autograde` itself, one student after another (what the formgrader's button runs too),
and everything either way writes is compared.
"""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from conftest import NOTEBOOK_TIMEOUT, TIMEOUT, autograde, grade_written_answers, write_class
from instructor.course import (ASSIGNMENT, cell_scores, feedback_text, make_scratch_course, nbgrader,
                               solution_answers, write_complete_submission, write_submission)

# A cross-section of the class: full marks, zero, a typical mistake, a crash, a damaged file, a cheat.
SAMPLE = ["complete", "blank", "summed_error", "kernel_exits_in_02", "truncated_03", "rebinds_check"]


@pytest.fixture(scope="module")
def serial_course(tmp_path_factory) -> Path:
    """Return a scratch course holding SAMPLE's submissions, graded by plain `nbgrader autograde` and by hand
    as the session's class is, and their feedback."""
    course = make_scratch_course(tmp_path_factory.mktemp("serial"))
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    write_class(course)
    others = sorted(p.name for p in (course / "course" / "submitted").iterdir() if p.name not in SAMPLE)
    graded = nbgrader(course, "autograde", ASSIGNMENT, f"--Execute.timeout={TIMEOUT}",
                      f"--GradingExecute.notebook_timeout={NOTEBOOK_TIMEOUT}",
                      f"--CourseDirectory.student_id_exclude={','.join(others)}")
    (course / "autograde.log").write_text(graded.stdout + graded.stderr)
    # nbgrader exits with an error for the one submission whose files are all unreadable: none here
    assert graded.returncode == 0, (graded.stdout + graded.stderr)[-3000:]
    grade_written_answers(course, SAMPLE)
    assert nbgrader(course, "generate_feedback", ASSIGNMENT).returncode == 0
    return course


def _outputs(course: Path, student: str) -> dict[tuple[str, str], list]:
    """Return {(notebook, grade_id or index): outputs without timing} of a student's autograded notebooks."""
    found = {}
    for path in sorted((course / "course" / "autograded" / student / ASSIGNMENT).glob("*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code":
                key = cell.metadata.get("nbgrader", {}).get("grade_id", str(index))
                found[(path.stem, key)] = [_without_times(o) for o in cell.outputs]
    return found


def _without_times(output: dict) -> dict:
    """Return an output with wall-clock figures masked (the only thing allowed to differ)."""
    text = re.sub(r"\d+\.\d+ ?s\b", "<t> s", str(output))
    return {"text": re.sub(r"wall time [^\\n']*", "wall time <t>", text)}


@pytest.mark.parametrize("student", SAMPLE)
def test_parallel_and_serial_runs_give_the_same_gradebook_rows(graded_class, serial_course, student):
    """Every graded cell's score and maximum, student by student."""
    assert cell_scores(graded_class, student) == cell_scores(serial_course, student)


@pytest.mark.parametrize("student", SAMPLE)
def test_parallel_and_serial_runs_give_the_same_autograded_notebooks_and_feedback(graded_class, serial_course, student):
    """The same outputs in every cell, and the same feedback page text, apart from wall-clock times."""
    assert _outputs(graded_class, student) == _outputs(serial_course, student)
    for page in (serial_course / "course" / "feedback" / student / ASSIGNMENT).glob("*.html"):
        mask = lambda text: re.sub(r"\d+\.\d+ ?s\b", "<t> s", text)  # noqa: E731
        assert mask(feedback_text(serial_course, student, page.stem)) == mask(
            feedback_text(graded_class, student, page.stem))


def test_parallel_and_serial_summaries_agree(graded_class, serial_course):
    """The summary says the same thing of each notebook whichever way it was graded."""
    def rows(course: Path) -> dict:
        with open(course / "course" / "autograde_summary.csv", newline="") as handle:
            return {(r["student"], r["notebook"]): (r["status"], r["reason"]) for r in csv.DictReader(handle)
                    if r["student"] in SAMPLE}
    assert rows(serial_course) == rows(graded_class)
    notebooks = len(list((serial_course / "notebooks" / ASSIGNMENT).glob("*.ipynb")))
    assert notebooks >= 4 and len(rows(serial_course)) == notebooks * len(SAMPLE)


def test_runner_and_nbgrader_write_the_same_integrity_table(graded_class, serial_course):
    """The scan runs after each student whoever grades: the same flags either way."""
    def rows(course: Path) -> set:
        with open(course / "course" / "integrity.csv", newline="") as handle:
            return {tuple(r.values()) for r in csv.DictReader(handle) if r["student"] in SAMPLE}
    assert rows(serial_course) == rows(graded_class) and rows(graded_class)


def test_runner_reports_progress_and_a_closing_summary(graded_class):
    """Progress lines (done / failed / left, seconds per submission), then the summary and the scan."""
    log = (graded_class / "autograde.log").read_text()
    assert re.search(r"\[\s*\d+/\d+\] graded \d+ · failed 0 · left \d+ · \d+\.\d s per submission on 2 core", log)
    assert "Notebooks: " in log and "Integrity scan:" in log
    assert re.search(r"Autograded \d+ submission\(s\) in \d+ s on 2 core\(s\)", log)


def test_runner_says_what_to_do_when_there_is_nothing_to_grade(tmp_path):
    """An empty course folder gets a sentence, not a traceback."""
    course = make_scratch_course(tmp_path / "empty")
    result = autograde(course)
    assert result.returncode == 2
    assert "Nothing to grade" in result.stderr and "submitted" in result.stderr


def test_runner_says_to_release_first_when_the_gradebook_lacks_the_assignment(tmp_path):
    """Submissions but no `nbgrader generate_assignment` yet: a sentence saying what to run."""
    course = make_scratch_course(tmp_path / "unreleased")
    (course / "course" / "submitted" / "ann" / ASSIGNMENT).mkdir(parents=True)
    result = autograde(course)
    assert result.returncode == 2
    assert "python3 tasks.py release" in result.stderr


def test_runner_leaves_nothing_in_the_temporary_folder(tmp_path, monkeypatch):
    """The grading workers' folders (kernels' connection files, homes, exit statuses) go away with them."""
    course = make_scratch_course(tmp_path / "one")
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    write_complete_submission(course, "ann")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    started = time.time() - 1
    graded = autograde(course, "--jobs", "1")
    assert graded.returncode == 0, (graded.stdout + graded.stderr)[-3000:]
    assert "graded 1 · failed 0" in graded.stdout
    assert not list(scratch.iterdir())
    from instructor.sandbox import scratch_base  # where the workers' folders go when the grader is root
    assert not [p for p in Path(scratch_base() or scratch).glob("ch8-*") if p.stat().st_mtime >= started]


def _worker_grading(runner: psutil.Process, student: str, seconds: float = 120) -> psutil.Process:
    """Return the runner's worker process once a kernel of ``student``'s grading runs under it (bounded wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for worker in runner.children():
            try:
                if any("forkserver" in " ".join(p.cmdline()) for p in worker.children(recursive=True)):
                    return worker
            except psutil.Error:  # a process ended while being looked at
                continue
        time.sleep(0.2)
    raise AssertionError(f"no worker started grading {student} within {seconds} s")


@pytest.mark.parametrize("fault", ["dies", "hangs"])
def test_a_worker_that_dies_or_hangs_costs_only_its_submission(tmp_path, fault):
    """The runner ends a worker that died or stopped answering, says why for that submission, and grades the rest."""
    course = make_scratch_course(tmp_path / "course")
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    answers = solution_answers(course)["01_overfitting"]  # one notebook each: the fault is the point, not the grading
    write_submission(course, "ann", "01_overfitting", answers)
    write_submission(course, "bob", "01_overfitting", answers)
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    started = time.time() - 1
    runner = subprocess.Popen([sys.executable, "-m", "instructor.autograde", "--course", str(course), "--jobs", "1",
                               "--student", "ann", "--student", "bob", "--submission-timeout", "25"],
                              cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        worker = _worker_grading(psutil.Process(runner.pid), "ann")
        worker.kill() if fault == "dies" else worker.suspend()
        output, _ = runner.communicate(timeout=600)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 1, output[-2000:]
    with open(course / "course" / "autograde_summary.csv", newline="") as handle:
        rows = {(r["student"], r["notebook"]): r for r in csv.DictReader(handle)}
    first = rows[("ann", "01_overfitting")]
    assert first["status"] == "not graded"
    assert ("worker ended" if fault == "dies" else "took more than 25 s") in first["reason"]
    assert rows[("bob", "01_overfitting")]["status"] == "graded"
    assert not psutil.pid_exists(worker.pid) or worker.status() == psutil.STATUS_ZOMBIE
    from instructor.sandbox import scratch_base  # the killed worker's folders went with the run
    assert not [p for p in Path(scratch_base() or tempfile.gettempdir()).glob("ch8-run-*") if str(runner.pid) in p.name
                or p.stat().st_mtime > started]
