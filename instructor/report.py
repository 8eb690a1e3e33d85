"""The class report: how a class did on the lab, on one self-contained HTML page, plus a CSV per check.

    python -m instructor.report [--course DIR] [--out DIR]        (or: python3 tasks.py report)

Run it after autograding. It reads, in the course folder DIR (default: the lab's root folder):

* the gradebook (the database nbgrader_config.py names): every student's points per check;
* the grading records, course/grading_status/<student>/<notebook>.json (instructor/verdicts.py):
  what each lost check said (the lab's checks name the mistake they saw) and why it lost; for a
  notebook without a record, the error in its cell of the autograded copy;
* the autograded notebooks, course/autograded/<student>/<assignment>/*.ipynb: who handed in what;
* the written answers (Markdown cells graded by hand in the formgrader, instructor/written.py): each
  one's state in the gradebook (graded, waiting for a grader, left blank), points and comment, and
  its text from the autograded notebook;
* course/autograde_summary.csv (student, notebook, status, reason, seconds) and
  course/integrity.csv (student, notebook, cell, line, why), where the grading run wrote them;
  without them the page says that this part is not available.
Every folder and name comes from the course's nbgrader_config.py (instructor/settings.py).

It writes class_report.html (figures embedded as PNG: no server, script or network needed to read
it; it can be mailed or archived), class_report_checks.csv (one row per autograded check) and
class_report_written.csv (one row per written question) into OUT (default: DIR/course).

How it counts. A notebook counts for a check only if the student handed it in (an autograded copy
exists); a check is passed with all its points. The same mistake made by several students gives
messages that differ only in the students' own numbers, names and code, so messages are grouped
with every number replaced by # and everything quoted ('...', `...`) replaced by ...; the page shows
one real message of each group.
"""
from __future__ import annotations

import argparse
import base64
import csv
import html
import io
import re
import statistics
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat

from instructor.course import ROOT
from instructor.settings import CourseSettings, course_settings
from instructor.verdicts import read_records
from instructor.written import TITLE, Answer, answers
TOP_MISTAKES = 15  # rows in the "most frequent mistakes" table; every message is listed further down
NAMES_SHOWN = 30  # students named per message before "and N more"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_QUOTED = re.compile(r"`[^`]*`|'[^'\n]*'|\"[^\"\n]*\"")
INTERRUPTED = "the cell was stopped: it ran past the time limit (a loop that never ends?)"


class ReportError(Exception):
    """Something the instructor must do first (autograde, point at the right folder); the message says what."""


@dataclass(frozen=True)
class Check:
    """One graded check of the lab: a test cell and its points."""

    notebook: str
    name: str
    points: float
    title: str


@dataclass
class ClassResults:
    """Everything the report shows, read from a course folder."""

    checks: list[Check]
    totals: dict[str, float]  # student -> points in the gradebook
    max_total: float
    handed_in: dict[str, set[str]]  # student -> notebooks with an autograded copy
    scores: dict[tuple[str, str, str], float]  # (student, notebook, check) -> points
    messages: dict[tuple[str, str, str], str]  # (student, notebook, check) -> what a lost check said
    questions: list[Check] = field(default_factory=list)  # the written questions, graded by hand
    answers: list[Answer] = field(default_factory=list)  # every handed-in written answer's state in the gradebook
    texts: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (student, notebook, question) -> answer
    summary: list[dict[str, str]] | None = None  # autograde_summary.csv rows, None if absent
    integrity: list[dict[str, str]] | None = None  # integrity.csv rows, None if absent
    sources: dict[str, Path] = field(default_factory=dict)
    assignment: str = "ch8"


def mistake_key(message: str) -> str:
    """Return ``message`` with numbers as # and quoted text as ...: the same mistake, whoever made it."""
    return " ".join(_NUMBER.sub("#", _QUOTED.sub("...", message)).split())


def _title(source: str) -> str:
    """Return the first line of a check cell's docstring ("Check that ..."), or '' without one."""
    match = re.match(r'\s*(?:"""|\'\'\')\s*(.*)', source)
    return match.group(1).split('"""')[0].strip() if match else ""


def _question_title(source: str) -> str:
    """Return the title of a written question's cell ("Written question 1 (...): the two 2s" -> "the two 2s")."""
    match = TITLE.match(source.partition("\n")[0])
    return match["title"].strip() if match else ""


def _cell_message(cell: nbformat.NotebookNode) -> str | None:
    """Return what a graded cell's error said, in words, or None if the cell shows no error."""
    errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    if not errors:
        return None
    # nbgrader adds a CellTimeoutError after the error of a cell it interrupted: whatever the check said
    # then ("... did not finish"), the time limit is the story, the same for every such student.
    if any(e.get("ename") in ("KeyboardInterrupt", "CellTimeoutError") for e in errors):
        return INTERRUPTED
    error = next((e for e in errors if e.get("ename") == "CheckFailed"), errors[0])
    ename, evalue = error.get("ename", ""), " ".join(str(error.get("evalue", "")).split())
    if ename == "CheckFailed":
        return evalue
    return f"{ename}: {evalue}" if evalue else ename


def _read_csv(path: Path, columns: set[str]) -> list[dict[str, str]] | None:
    """Return the rows of a CSV file, or None if there is none; complain about missing columns."""
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = columns - set(reader.fieldnames or [])
        if missing:
            raise ReportError(f"{path} lacks the column(s) {', '.join(sorted(missing))}: "
                              f"expected {', '.join(sorted(columns))}.")
        return list(reader)


def _settings(course: Path) -> CourseSettings:
    """Return the course's settings, or say plainly that ``course`` is not a course folder."""
    if not (course / "nbgrader_config.py").is_file():
        raise ReportError(f"No nbgrader_config.py in {course}: point --course at the lab's folder "
                          "(the one with tasks.py).")
    return course_settings(course)


def _gradebook(settings: CourseSettings):
    """Return nbgrader's Gradebook for the course, refusing to create an empty database by accident."""
    from nbgrader.api import Gradebook

    url = settings.db_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        raise ReportError(f"No gradebook at {url[len('sqlite:///'):]}: autograde first "
                          f"(python3 tasks.py autograde), or point --course at the course folder.")
    return Gradebook(url)


def load_class(course: Path, summary: Path | None = None, integrity: Path | None = None) -> ClassResults:
    """Read the gradebook, the grading records, the autograded notebooks and the grading run's CSV files of ``course``."""
    settings = _settings(course)
    folder, assignment_id = settings.autograded, settings.assignment
    copies = sorted(folder.glob(f"*/{assignment_id}/*.ipynb"))
    if not copies:
        raise ReportError(f"No autograded notebooks in {folder}/<student>/{assignment_id}/: collect the submissions "
                          f"into {settings.submitted}/ and run python3 tasks.py autograde first.")
    handed_in: dict[str, set[str]] = defaultdict(set)
    for path in copies:
        handed_in[path.parts[-3]].add(path.stem)
    from nbgrader.api import MissingEntry

    checks, questions, totals, scores, max_total = [], [], {}, {}, 0.0
    with _gradebook(settings) as gb:
        try:
            assignment = gb.find_assignment(assignment_id)
        except MissingEntry:
            raise ReportError(f"The gradebook has no assignment {assignment_id}: "
                              "run python3 tasks.py autograde first.") from None
        max_total = assignment.max_score
        for notebook in assignment.notebooks:
            sources = {cell.name: cell.source for cell in notebook.source_cells}
            order = {name: i for i, name in enumerate(sources)}  # the cells' order in the notebook
            names = list(sources)
            for cell in sorted(notebook.grade_cells, key=lambda c: order.get(c.name, len(order))):
                if cell.cell_type == "markdown":  # a written answer: its question is the cell just above it
                    above = names[order[cell.name] - 1] if order.get(cell.name) else ""
                    questions.append(Check(notebook.name, cell.name, cell.max_score,
                                           _question_title(sources.get(above, ""))))
                else:
                    checks.append(Check(notebook.name, cell.name, cell.max_score, _title(sources.get(cell.name, ""))))
        for submission in gb.assignment_submissions(assignment_id):
            totals[submission.student_id] = submission.score
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    scores[(submission.student_id, notebook.name, grade.name)] = grade.score
    messages, recorded = {}, set()
    for record in read_records(settings.status_dir):  # the verdicts: what each check said, and why
        recorded.add((record.student, record.notebook))
        for verdict in record.verdicts:
            if not verdict.passed:
                text = INTERRUPTED if verdict.why == "timed out" else " ".join(verdict.message.split())
                messages[(record.student, record.notebook, verdict.check)] = text
    written = {(q.notebook, q.name) for q in questions}
    texts = {}
    for path in copies:  # the written answers' text; for a notebook graded without a record, what its cells show
        for cell in nbformat.read(path, as_version=4).cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if (path.stem, grade_id) in written:
                texts[(path.parts[-3], path.stem, grade_id)] = cell.source
            elif grade_id and (path.parts[-3], path.stem) not in recorded:
                text = _cell_message(cell)
                if text is not None:
                    messages[(path.parts[-3], path.stem, grade_id)] = text
    summary_path, integrity_path = summary or settings.summary, integrity or settings.integrity
    return ClassResults(
        checks=checks, totals=totals, max_total=max_total, handed_in=dict(handed_in), scores=scores,
        messages=messages, questions=questions, answers=answers(settings), texts=texts,
        summary=_read_csv(summary_path, {"student", "notebook", "status", "reason", "seconds"}),
        integrity=_read_csv(integrity_path, {"student", "notebook", "cell", "line", "why"}),
        sources={"course": course, "summary": summary_path, "integrity": integrity_path}, assignment=assignment_id)


def lost_by(results: ClassResults, check: Check) -> list[str]:
    """Return the students who handed in the check's notebook and did not get all its points."""
    return sorted(student for student, notebooks in results.handed_in.items() if check.notebook in notebooks
                  and results.scores.get((student, check.notebook, check.name), 0.0) < check.points)


def handed_in_count(results: ClassResults, notebook: str) -> int:
    """Return how many students handed in ``notebook``."""
    return sum(notebook in notebooks for notebooks in results.handed_in.values())


@dataclass
class Mistake:
    """One message a check gave, and the students it was given to."""

    check: Check
    example: str
    students: list[str]


def mistakes(results: ClassResults) -> list[Mistake]:
    """Return every distinct message of every lost check, the most frequent first."""
    groups: dict[tuple[Check, str], list[str]] = defaultdict(list)
    examples: dict[tuple[Check, str], Counter] = defaultdict(Counter)
    for check in results.checks:
        for student in lost_by(results, check):
            text = results.messages.get((student, check.notebook, check.name),
                                        "(no error shown in the autograded notebook: open it to see why)")
            groups[(check, mistake_key(text))].append(student)
            examples[(check, mistake_key(text))][text] += 1
    found = [Mistake(check, examples[(check, key)].most_common(1)[0][0], sorted(students))
             for (check, key), students in groups.items()]
    order = {check: i for i, check in enumerate(results.checks)}
    return sorted(found, key=lambda m: (-len(m.students), order[m.check], m.example))


def check_rows(results: ClassResults) -> list[dict[str, object]]:
    """Return one row per check: points, how many handed it in, pass rate, who lost it, the commonest message."""
    by_check: dict[Check, list[Mistake]] = defaultdict(list)
    for mistake in mistakes(results):
        by_check[mistake.check].append(mistake)
    rows = []
    for check in results.checks:
        handed, lost = handed_in_count(results, check.notebook), lost_by(results, check)
        top = by_check[check][0] if by_check[check] else None
        rows.append({"notebook": check.notebook, "check": check.name, "title": check.title, "points": check.points,
                     "handed_in": handed, "passed": handed - len(lost),
                     "pass_rate": round((handed - len(lost)) / handed, 3) if handed else None,
                     "students_lost": len(lost),
                     "most_frequent_message": top.example if top else "",
                     "most_frequent_message_students": len(top.students) if top else 0})
    return rows


def written_rows(results: ClassResults) -> list[dict[str, object]]:
    """Return one row per written question: how many answers are graded, waiting, blank, and the points given."""
    rows = []
    for question in results.questions:
        own = [a for a in results.answers if (a.notebook, a.question) == (question.notebook, question.name)]
        given = Counter(a.points for a in own if a.state == "graded")
        rows.append({"notebook": question.notebook, "question": question.name, "title": question.title,
                     "points": question.points, "handed_in": len(own), "graded": sum(given.values()),
                     "waiting": sum(a.state == "waiting" for a in own), "blank": sum(a.state == "blank" for a in own),
                     "points_given": ", ".join(f"{points:g} point{'' if points == 1 else 's'}: {count}"
                                               for points, count in sorted(given.items(), reverse=True)),
                     "mean_of_graded": round(statistics.mean(given.elements()), 2) if given else None})
    return rows


# ----------------------------------------------------------------------------------------- figures

def _png(fig) -> str:
    """Return a Matplotlib figure as an <img> tag with the PNG embedded (base64)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = html.escape(fig.get_label() or "figure")
    return f'<img src="data:image/png;base64,{data}" alt="{alt}">'


def score_histogram(results: ClassResults) -> str:
    """Return the distribution of total points as an embedded PNG: one bar per point."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), label="Histogram of the students' total points")
    ax = fig.subplots()
    top = int(results.max_total)
    ax.hist(list(results.totals.values()), bins=[x - 0.5 for x in range(top + 2)], color="#4c72b0", edgecolor="white")
    ax.set_xlim(-0.5, top + 0.5)
    ax.set_xlabel(f"points (of {results.max_total:g})")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Total points, {len(results.totals)} students")
    return _png(fig)


def pass_rate_chart(results: ClassResults) -> str:
    """Return each check's pass rate as horizontal bars grouped (and coloured) by notebook, as an embedded PNG."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = check_rows(results)
    notebooks = list(dict.fromkeys(row["notebook"] for row in rows))
    colours = dict(zip(notebooks, ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]))
    positions, y = [], 0.0
    for i, row in enumerate(rows):
        if i and row["notebook"] != rows[i - 1]["notebook"]:
            y += 0.8  # a gap between notebooks
        positions.append(y)
        y += 1
    fig = Figure(figsize=(8, 0.32 * y + 1.2), label="Pass rate of every check, grouped by notebook")
    ax = fig.subplots()
    for position, row in zip(positions, rows):
        rate = row["pass_rate"] or 0.0
        ax.barh(position, 100 * rate, color=colours[row["notebook"]], height=0.8)
        label = f"{100 * rate:.0f} % of {row['handed_in']}" if row["handed_in"] else "not handed in"
        ax.text(100 * rate + 1, position, label, va="center", fontsize=8)
    ax.set_yticks(positions, [row["check"] for row in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 118)
    ax.set_xlabel("students who got all its points (% of those who handed the notebook in)")
    ax.legend(handles=[Patch(color=colours[notebook], label=notebook) for notebook in notebooks], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1), title="notebook", title_fontsize=8)
    ax.set_title("Pass rate per check")
    return _png(fig)


def time_histogram(seconds: list[float]) -> str:
    """Return the distribution of grading times (seconds per notebook) as an embedded PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3), label="Histogram of the seconds autograding took per notebook")
    ax = fig.subplots()
    ax.hist(seconds, bins=min(30, max(5, len(seconds) // 3)), color="#8172b3", edgecolor="white")
    ax.set_xlabel("seconds to autograde one notebook")
    ax.set_ylabel("notebooks")
    ax.set_title("Grading times")
    return _png(fig)


# -------------------------------------------------------------------------------------------- page

def _table(header: list[str], rows: list[list[object]]) -> str:
    """Return an HTML table (every value escaped)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _names(students: list[str]) -> str:
    """Return a list of student ids, cut after NAMES_SHOWN."""
    more = len(students) - NAMES_SHOWN
    return ", ".join(students[:NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _students(count: int) -> str:
    """Return "1 student" or "N students"."""
    return f"{count} student" + ("" if count == 1 else "s")


def _not_available(path: Path, what: str) -> str:
    """Return a note that ``path`` is missing, so the page cannot show ``what``."""
    return (f'<p class="missing">Not available: {html.escape(str(path))} was not found. It is written by the '
            f"grading run; without it this report cannot show {html.escape(what)}.</p>")


def _scores_section(results: ClassResults) -> str:
    """Return the Scores section: histogram of totals, summary numbers, a row per notebook."""
    totals = list(results.totals.values())
    graded = results.checks + results.questions  # autograded checks and written answers
    notebooks = list(dict.fromkeys(check.notebook for check in graded))
    rows = []
    for notebook in notebooks:
        points = sum(check.points for check in graded if check.notebook == notebook)
        got = [sum(results.scores.get((s, notebook, c.name), 0.0) for c in graded if c.notebook == notebook)
               for s, handed in results.handed_in.items() if notebook in handed]
        rows.append([notebook, handed_in_count(results, notebook), f"{points:g}",
                     f"{statistics.mean(got):.1f}" if got else "-"])
    return (f"<h2 id='scores'>Scores</h2>{score_histogram(results)}"
            f"<p>{len(totals)} students; total points: mean {statistics.mean(totals):.1f}, "
            f"median {statistics.median(totals):g}, lowest {min(totals):g}, highest {max(totals):g} "
            f"(of {results.max_total:g}: {sum(c.points for c in results.checks):g} autograded, "
            f"{sum(q.points for q in results.questions):g} for written answers graded by hand). A notebook not "
            f"handed in counts 0 points here, and so does a written answer still waiting for a grader "
            f"({sum(a.state == 'waiting' for a in results.answers)} now).</p>"
            + _table(["notebook", "handed in by", "points", "mean points of those who handed it in"], rows))


def _checks_section(results: ClassResults) -> str:
    """Return the Checks section: the pass-rate chart and a row per check."""
    rows = [[r["notebook"], r["check"], r["title"], f"{r['points']:g}", r["handed_in"],
             "-" if r["pass_rate"] is None else f"{100 * r['pass_rate']:.0f} %", r["students_lost"]]
            for r in check_rows(results)]
    return (f"<h2 id='checks'>Checks</h2>{pass_rate_chart(results)}"
            + _table(["notebook", "check", "what it checks", "points", "handed in", "pass rate",
                      "students who lost it"], rows))


def _mistakes_section(results: ClassResults) -> str:
    """Return the mistakes section: the most frequent messages, then every message by check."""
    found = mistakes(results)
    top = [[len(m.students), m.check.notebook, m.check.name, m.example] for m in found[:TOP_MISTAKES]]
    details = []
    for check in results.checks:
        own = [m for m in found if m.check == check]
        if own:
            items = "".join(f"<li><b>{len(m.students)}</b> × {html.escape(m.example)}"
                            f"<br><span class='who'>{html.escape(_names(m.students))}</span></li>" for m in own)
            details.append(f"<details><summary>{html.escape(check.notebook)} · {html.escape(check.name)}: "
                           f"{_students(sum(len(m.students) for m in own))}</summary><ul>{items}</ul></details>")
    return ("<h2 id='mistakes'>Most frequent mistakes</h2><p>What the lost checks said, grouped by check; "
            "messages that differ only in numbers or quoted names and code count as one mistake.</p>"
            + _table(["students", "notebook", "check", "message (one example)"], top)
            + "<h3>Every message, by check</h3>" + ("".join(details) or "<p>No check was lost.</p>"))


_STATE_WORDS = {"graded": "graded", "waiting": "waiting for a grader", "blank": "blank (0 points)"}


def _written_section(results: ClassResults) -> str:
    """Return the written answers: per question the counts and points given, then every answer with its grade."""
    if not results.questions:
        return ""
    rows = [[r["notebook"], r["question"], r["title"], f"{r['points']:g}", r["handed_in"], r["graded"], r["waiting"],
             r["blank"], r["points_given"] or "-", "-" if r["mean_of_graded"] is None else f"{r['mean_of_graded']:g}"]
            for r in written_rows(results)]
    details = []
    for question in results.questions:
        own = [a for a in results.answers if (a.notebook, a.question) == (question.notebook, question.name)]
        cells = "".join(
            f"<tr><td>{html.escape(a.student)}</td><td>{_STATE_WORDS[a.state]}</td>"
            f"<td>{'' if a.state == 'waiting' else f'{a.points:g}'}</td><td>{html.escape(a.comment)}</td>"
            f"<td class='answer'>{html.escape(results.texts.get((a.student, a.notebook, a.question), ''))}</td></tr>"
            for a in own)
        details.append(f"<details><summary>{html.escape(question.notebook)} · {html.escape(question.name)}: "
                       f"{html.escape(question.title)} ({_students(len(own))})</summary><table><thead><tr>"
                       "<th>student</th><th>state</th><th>points</th><th>comment</th><th>answer</th></tr></thead>"
                       f"<tbody>{cells}</tbody></table></details>")
    return ("<h2 id='written'>Written answers</h2><p>Questions graded by hand in the formgrader (<i>Manual "
            "Grading</i>). An answer is <b>waiting</b> until a grader gives it points (it counts 0 until then), "
            "<b>blank</b> when there is nothing to grade: the placeholder was handed in unchanged (the formgrader "
            "shows the grader \"No response.\") or its notebook could not be read (0 points either way). Points "
            "given count the graded answers only.</p>"
            + _table(["notebook", "question", "title", "points", "handed in", "graded", "waiting", "blank",
                      "points given", "mean of graded"], rows)
            + "<h3>Every answer, by question</h3>" + "".join(details))


def _grading_section(results: ClassResults) -> str:
    """Return the Grading section: what could not be fully graded, integrity flags, grading times."""
    summary_path, integrity_path = results.sources["summary"], results.sources["integrity"]
    parts = ["<h2 id='grading'>Grading</h2><h3>Submissions not fully graded</h3>"]
    if results.summary is None:
        parts.append(_not_available(summary_path, "which submissions could not be fully graded, nor grading times"))
    else:
        partial = [[r["student"], r["notebook"], r["status"], r["reason"]]
                   for r in results.summary if r["status"] != "graded"]
        parts.append(_table(["student", "notebook", "status", "reason"], partial) if partial
                     else "<p>Every notebook was graded completely.</p>")
    parts.append("<h3>Integrity flags</h3>")
    if results.integrity is None:
        parts.append(_not_available(integrity_path, "the integrity flags"))
    elif results.integrity:
        parts.append(_table(["student", "notebook", "cell", "line", "why"],
                            [[r["student"], r["notebook"], r["cell"], r["line"], r["why"]] for r in results.integrity]))
    else:
        parts.append("<p>No submission was flagged.</p>")
    parts.append("<h3>Grading times</h3>")
    seconds = [(float(r["seconds"]), r) for r in results.summary or [] if r["seconds"].strip()]
    if results.summary is None:
        parts.append(_not_available(summary_path, "grading times"))
    elif seconds:
        values = [s for s, _ in seconds]
        slowest = sorted(seconds, key=lambda pair: -pair[0])[:5]
        parts.append(time_histogram(values) + f"<p>{len(values)} notebooks graded in {sum(values):.0f} s of grading "
                     f"in all: median {statistics.median(values):.1f} s, slowest {max(values):.1f} s.</p>"
                     + _table(["student", "notebook", "seconds", "status"],
                              [[r["student"], r["notebook"], f"{s:.1f}", r["status"]] for s, r in slowest]))
    else:
        parts.append("<p>The grading run recorded no times.</p>")
    return "".join(parts)


STYLE = """
body { font-family: sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
img { max-width: 100%; }
.missing { background: #fff4e5; border-left: 4px solid #f0a030; padding: 0.5em; }
.who { color: #666; font-size: 0.85em; }
.answer { white-space: pre-wrap; max-width: 40em; }
details { margin: 0.3em 0; }
"""


def render(results: ClassResults) -> str:
    """Return the whole report as one HTML page (no external file, script or link)."""
    course = results.sources["course"]
    intro = (f"<p>Assignment <b>{html.escape(results.assignment)}</b> in {html.escape(str(course))}, written "
             f"{datetime.now():%Y-%m-%d %H:%M}. {len(results.totals)} students in the gradebook, "
             f"{sum(map(len, results.handed_in.values()))} autograded notebooks, "
             f"{sum(a.state == 'waiting' for a in results.answers)} written answers waiting for a grader.</p>")
    notes = ("<h2 id='notes'>How this report counts</h2><ul>"
             "<li>A check is passed with all its points; its pass rate counts only the students who handed in "
             "its notebook.</li>"
             "<li>Messages come from the grading records: the lab's checks name the mistake they saw; a check "
             "that could not run says why.</li>"
             "<li>The same mistake gives messages that differ only in the student's own numbers, names and code: "
             "numbers are read as # and quoted text as ... to group them.</li>"
             "<li>Checks, pass rates and mistakes are the autograded checks; written answers are counted apart, "
             "from the gradebook, as the graders have left them when the report is written.</li></ul>")
    body = (intro + _scores_section(results) + _checks_section(results) + _mistakes_section(results)
            + _written_section(results) + _grading_section(results) + notes)
    title = html.escape(results.assignment)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Class report: {title}</title>"
            f"<style>{STYLE}</style></head><body><h1>Class report: {title}</h1>{body}</body></html>")


def _write_rows(rows: list[dict[str, object]], columns: list[str], path: Path) -> Path:
    """Write ``rows`` as CSV with ``columns``; return ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_checks_csv(results: ClassResults, path: Path) -> Path:
    """Write one row per check (notebook, check, points, pass rate, who lost it, commonest message); return ``path``."""
    rows = check_rows(results)
    return _write_rows(rows, list(rows[0]), path)


WRITTEN_COLUMNS = ["notebook", "question", "title", "points", "handed_in", "graded", "waiting", "blank", "points_given",
                   "mean_of_graded"]


def write_report(course: Path, out: Path | None = None, summary: Path | None = None,
                 integrity: Path | None = None) -> tuple[Path, Path, Path]:
    """Write class_report.html and the two CSV files (checks, written questions) into ``out``; return their paths."""
    results = load_class(course, summary, integrity)
    out = out or course / "course"
    out.mkdir(parents=True, exist_ok=True)
    page = out / "class_report.html"
    page.write_text(render(results), encoding="utf-8")
    return (page, write_checks_csv(results, out / "class_report_checks.csv"),
            _write_rows(written_rows(results), WRITTEN_COLUMNS, out / "class_report_written.csv"))


def main(argv: list[str] | None = None) -> int:
    """Command line: write the report, print where it is; on a problem, say what to do and return 1."""
    parser = argparse.ArgumentParser(prog="python -m instructor.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=ROOT, help="the course folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the report (default: COURSE/course)")
    args = parser.parse_args(argv)
    try:
        page, table, written = write_report(args.course.resolve(), args.out)
    except ReportError as error:
        print(f"No class report: {error}", file=sys.stderr)
        return 1
    print(f"Class report written: {page}\nOne row per check:    {table}\nOne row per written question: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
