"""Written answers: the lab's questions that a person grades in the formgrader, with their rubrics.

    python -m instructor.written [--course DIR] [--check]     (python3 tasks.py release runs it)

Each written question is two cells of a source notebook (solutions/ch8/): a locked Markdown cell
with the question as students read it (how long an answer should be, what it should mention), and
right after it a manually graded answer cell (Markdown, nbgrader's ``grade`` and ``solution``, with
points) that holds the model answer and the rubric. ``nbgrader generate_assignment`` replaces the
whole answer cell by its text stub in the student copy, so the rubric never reaches students.

* ``questions()`` reads the questions, model answers and rubrics from the source notebooks, and
  ``rubric_page()`` turns them into the graders' page of the lab guide,
  labguide/08_written_answers.md (written by this module's command line; a test checks it is current);
* ``answers()`` reads every handed-in written answer from the gradebook: graded (points, comment),
  waiting for a grader, or blank (the placeholder left as it was: nbgrader gives it 0 points and
  the comment "No response." without anyone grading it);
* ``grade_by_hand()`` gives one answer its points and comment through nbgrader's Python API, and
  ``grade_in_formgrader()`` does the same through the formgrader's HTTP API, as its Manual Grading
  page does (a running formgrader, on one machine or as the class hub's service).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from instructor.settings import CourseSettings

MODEL = "**Model answer.**"  # where the model answer starts in an answer cell of a source notebook
RUBRIC = "**Rubric"  # where the rubric starts, to the end of the cell
TITLE = re.compile(r"^#+\s*Written question \d+ \((?P<points>[\d.]+) points?, graded by hand\):\s*(?P<title>.+)$")
PAGE = Path("labguide") / "08_written_answers.md"
STATES = ("graded", "waiting", "blank")


def is_written(cell: dict) -> bool:
    """Tell whether a notebook cell is a written answer: a Markdown cell graded by hand."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "markdown" and bool(meta.get("grade")) and bool(meta.get("solution"))


def model_answer(source: str) -> str:
    """Return the model answer of an answer cell's source (between its labels), or '' without one."""
    start = source.find(MODEL)
    if start < 0:
        return ""
    end = source.find(RUBRIC, start)
    return source[start + len(MODEL):end if end >= 0 else None].strip()


@dataclass(frozen=True)
class Question:
    """One written question of a source notebook: what students read, and what graders go by."""

    notebook: str
    name: str  # the grade_id of the answer cell (the question cell is the one just above it)
    points: float
    title: str
    prompt: str  # the question cell as students read it, without its heading
    model: str
    rubric: str


def questions(course: Path, assignment: str = "ch8") -> list[Question]:
    """Return the written questions of ``course``'s source notebooks, in notebook and cell order."""
    found = []
    for path in sorted((course / "solutions" / assignment).glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        for before, cell in zip(cells, cells[1:]):
            if not is_written(cell):
                continue
            heading, _, prompt = before.source.partition("\n")
            match = TITLE.match(heading)
            if before.cell_type != "markdown" or match is None:
                raise ValueError(f"{path.name}: the written answer {cell.metadata.nbgrader['grade_id']} needs its "
                                 "question right above it, a Markdown cell headed '### Written question N "
                                 "(P points, graded by hand): title'")
            found.append(Question(path.stem, cell.metadata.nbgrader["grade_id"],
                                  float(cell.metadata.nbgrader["points"]), match["title"].strip(), prompt.strip(),
                                  model_answer(cell.source), cell.source[cell.source.find(RUBRIC):].strip()))
    return found


def rubric_page(found: list[Question]) -> str:
    """Return the graders' page of the lab guide: every question, its model answer and its rubric."""
    total = sum(q.points for q in found)
    intro = ("*For graders. This page is made from the answer cells of the source notebooks (`solutions/ch8/`) "
             "by `python3 tasks.py release`: change a rubric there, not here.*",
             f"Notebooks 01 to 04 each ask two short written questions, {len(found)} in all, worth {total:g} "
             "points, that a person grades in the formgrader's *Manual Grading* ([For instructors]"
             "(07_instructors.md) says how). Each is asked where its idea has just been seen; students read how "
             "long an answer should be and what it should mention. For each question below: the question as "
             "students read it, a model answer, what earns full and partial credit, and the commonest wrong "
             "answers with a reply to paste into the comment box.")
    lines = ["# Written answers: questions, model answers and rubrics", ""]
    for paragraph in intro:
        lines += [*textwrap.wrap(paragraph, 100, break_on_hyphens=False), ""]
    notebook = ""
    for question in found:
        if question.notebook != notebook:
            notebook = question.notebook
            lines += [f"## {notebook}", ""]
        title = question.title[0].upper() + question.title[1:]
        lines += [f"### {title}", "", f"`{question.name}`, {question.points:g} points. What students read:", ""]
        # the last paragraph says how to edit a Markdown cell: for students only
        prompt = question.prompt.split("\n\n*Write your answer")[0]
        lines += [f"> {line}".rstrip() for line in prompt.splitlines()]
        lines += ["", f"{MODEL} {question.model}", "", question.rubric, ""]
    return "\n".join(lines).rstrip() + "\n"


@dataclass(frozen=True)
class Answer:
    """One student's answer to one written question, as the gradebook holds it."""

    student: str
    notebook: str
    question: str  # the answer cell's grade_id
    state: str  # graded (a person gave points) | waiting (for a person) | blank (placeholder left: 0 points)
    points: float  # what it earns now: 0 while waiting
    max_points: float
    comment: str  # what the grader wrote ('' for none)


def answers(settings: CourseSettings, students: Iterable[str] | None = None) -> list[Answer]:
    """Return every written answer handed in (an autograded copy of its notebook exists), by student."""
    from nbgrader.api import Gradebook, MissingEntry

    chosen = None if students is None else set(students)
    found = []
    with Gradebook(settings.db_url, settings.course_id) as gb:
        try:
            assignment = gb.find_assignment(settings.assignment)
        except MissingEntry:
            return []
        written = {(notebook.name, cell.name) for notebook in assignment.notebooks for cell in notebook.grade_cells
                   if cell.cell_type == "markdown"}
        for submission in gb.assignment_submissions(settings.assignment):
            student = submission.student_id
            if chosen is not None and student not in chosen:
                continue
            for notebook in submission.notebooks:
                # nbgrader keeps rows (waiting, by default) for notebooks nobody handed in: skip those
                if not (settings.autograded / student / settings.assignment / f"{notebook.name}.ipynb").exists():
                    continue
                comments = {comment.name: comment.manual_comment or "" for comment in notebook.comments}
                for grade in notebook.grades:
                    if (notebook.name, grade.name) not in written:
                        continue
                    state = ("graded" if grade.manual_score is not None else
                             "waiting" if grade.needs_manual_grade else "blank")
                    found.append(Answer(student, notebook.name, grade.name, state, float(grade.score or 0),
                                        float(grade.max_score), comments.get(grade.name, "")))
    return sorted(found, key=lambda a: (a.student, a.notebook, a.question))


def grade_by_hand(settings: CourseSettings, student: str, notebook: str, question: str, points: float,
                  comment: str = "") -> None:
    """Give one written answer ``points`` and ``comment`` in the course's gradebook, as the formgrader stores them."""
    from nbgrader.api import Gradebook

    assignment = settings.assignment
    with Gradebook(settings.db_url, settings.course_id) as gb:
        grade = gb.find_grade(question, notebook, assignment, student)
        if not 0 <= points <= grade.max_score:
            raise ValueError(f"{question} is worth 0 to {grade.max_score:g} points, not {points:g}")
        grade.manual_score, grade.needs_manual_grade = points, False
        gb.find_comment(question, notebook, assignment, student).manual_comment = comment or None
        gb.db.commit()


def grade_in_formgrader(formgrader: str, token: str, student: str, notebook: str, question: str, points: float,
                        comment: str = "", assignment: str = "ch8", timeout: float = 60) -> dict:
    """Grade one written answer through a running formgrader's HTTP API; return the grade it stored.

    ``formgrader`` is the formgrader's address, e.g. ``http://127.0.0.1:8888/formgrader`` on one
    machine or ``https://HUB/services/grokking-ch8/formgrader`` on the class hub; ``token`` is an API
    token of someone allowed to grade there (sent as ``Authorization: token ...``). The calls are the
    ones the Manual Grading page makes: the submitted notebook's id, its grade and comment rows, then
    one PUT for the points and one for the comment.
    """
    api = formgrader.rstrip("/") + "/api/"

    def call(method: str, path: str, body: dict | None = None) -> dict | list:
        request = urllib.request.Request(api + path, method=method, data=None if body is None else
                                         json.dumps(body).encode(), headers={"Authorization": f"token {token}",
                                                                            "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    quoted = urllib.parse.quote
    submitted = call("GET", f"student_notebook_submissions/{quoted(student)}/{quoted(assignment)}")
    ids = [n["id"] for n in submitted if n["name"] == notebook and n.get("id")]
    if not ids:
        raise LookupError(f"the formgrader has no autograded {notebook} of {student} in {assignment}")
    query = urllib.parse.urlencode({"submission_id": ids[0]})
    grade = next((g for g in call("GET", f"grades?{query}") if g["name"] == question), None)
    if grade is None:
        raise LookupError(f"{notebook} has no graded cell {question}")
    note = next(c for c in call("GET", f"comments?{query}") if c["name"] == question)
    stored = call("PUT", f"grade/{grade['id']}", {"manual_score": points, "extra_credit": None})
    call("PUT", f"comment/{note['id']}", {"manual_comment": comment})
    return stored


def main(argv: list[str] | None = None) -> int:
    """Command line: write the graders' page from the source notebooks, or (--check) say whether it is current."""
    parser = argparse.ArgumentParser(prog="python -m instructor.written", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the lab's folder (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="only say whether the page is current (exit 1 if not)")
    args = parser.parse_args(argv)
    page, text = args.course / PAGE, rubric_page(questions(args.course))
    if args.check:
        current = page.is_file() and page.read_text(encoding="utf-8") == text
        print(f"{page} is {'current' if current else 'out of date: run python3 tasks.py release'}")
        return 0 if current else 1
    page.write_text(text, encoding="utf-8")
    print(f"Rubrics written: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
