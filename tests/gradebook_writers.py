"""Graders that write to one gradebook at the same time, each in a process of its own (tests/test_gradebook.py).

A module of its own so that a process started afresh (spawn) imports only this and nbgrader, not the test suite.
"""
from __future__ import annotations

import multiprocessing
import time
import traceback
from pathlib import Path

from instructor.course import ASSIGNMENT, gradebook_url

COURSE_ID = "grokking-ch8"  # nbgrader_config.py's course id


def expected_score(student: str, cell: str, max_score: float) -> float:
    """Return the score a writer gives ``student`` on ``cell``: different per row, so a lost or mixed row shows."""
    return float(sum(map(ord, student + cell)) % (int(max_score) + 1))


def write_students(course: str, writer: int, students: int, barrier, results) -> None:
    """One grader: add students, their submissions, every grade and comment, one commit per cell as nbgrader does."""
    from nbgrader.api import Gradebook

    try:
        db_url = gradebook_url(Path(course))  # runs nbgrader_config.py, as every nbgrader command does
        barrier.wait(timeout=300)  # all writers start together
        start = time.perf_counter()
        for k in range(students):
            student = f"writer{writer}_student{k}"
            # A new Gradebook (engine and connection) per student: nbgrader autograde opens one per step.
            with Gradebook(db_url, COURSE_ID) as gb:
                gb.update_or_create_student(student, first_name=f"Student {k}", last_name=f"Writer {writer}")
                gb.add_submission(ASSIGNMENT, student)
                for notebook in gb.find_assignment(ASSIGNMENT).notebooks:
                    for cell in notebook.grade_cells:
                        grade = gb.find_grade(cell.name, notebook.name, ASSIGNMENT, student)
                        grade.auto_score = expected_score(student, cell.name, cell.max_score)
                        gb.db.commit()
                    for cell in notebook.solution_cells:
                        comment = gb.find_comment(cell.name, notebook.name, ASSIGNMENT, student)
                        comment.auto_comment = f"{student} wrote {cell.name}"
                        gb.db.commit()
                    gb.find_submission(ASSIGNMENT, student).score  # a read between writes, as the formgrader does
        results.put((writer, "ok", time.perf_counter() - start))
    except BaseException:
        results.put((writer, traceback.format_exc(), 0.0))


def run_writers(course: Path, writers: int, students: int, timeout: float) -> dict[int, tuple[str, float]]:
    """Start ``writers`` processes at once; return {writer: ("ok" or its traceback, seconds writing)}."""
    # Separate processes with connections of their own, as separate nbgrader commands have. Forked
    # after the course's configuration was loaded here once, they skip a start-up of seconds each
    # (nbconvert, nbgrader); where fork is missing (Windows, macOS default) they start afresh.
    gradebook_url(course)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    barrier, results = context.Barrier(writers), context.Queue()
    processes = [context.Process(target=write_students, args=(str(course), w, students, barrier, results))
                 for w in range(writers)]
    for process in processes:
        process.start()
    outcome = {}
    try:
        for _ in processes:
            writer, result, seconds = results.get(timeout=timeout)
            outcome[writer] = (result, seconds)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return outcome
