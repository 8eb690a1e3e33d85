"""Submissions downloaded from Canvas or Moodle into nbgrader, and grades back out in their CSV formats.

Collect: put the LMS's "download all submissions" zip in course/downloaded/ch8/archive/ and run
``nbgrader zip_collect ch8``. nbgrader unpacks it and asks ``LmsCollector`` (set in
nbgrader_config.py) which student and notebook each file is:

* Canvas names each file ``<name>[_LATE]_<user id>_<file id>_<uploaded name>``; a file uploaded
  again under the same name comes back as ``<name>-1.ipynb``, ``-2``, ... The student is the
  Canvas user id (what Canvas's grade import matches on); of two uploads of one notebook the one
  with the larger file id (uploaded later) is kept.
* Moodle puts each student's files in a folder ``<Full Name>_<participant id>_assignsubmission_file``
  (with a trailing ``_`` before Moodle 4.1), or, without folders, prefixes the file names that
  way. The student is the participant id (what Moodle's grading worksheet matches on).

A file is collected only when its name says both who and which notebook; anything else (another
name, another file type, a notebook name that is not one of the assignment's, two different
copies with no way to tell which is newer) is listed in course/downloaded/ch8/collect_report.txt
and in the log, never guessed.

Export: ``nbgrader export --exporter=instructor.lms.CanvasGradesExport --to course/canvas_grades.csv``
or ``...MoodleGradesExport --to course/moodle_grades.csv``; the column choices are explained on
each class.
"""
from __future__ import annotations

import csv
import filecmp
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin, FileNameCollectorPlugin
from nbgrader.utils import find_all_notebooks
from traitlets import Float, Unicode

# Canvas (lib/content_zipper.rb): the sortable name lower-cased with non-word characters removed
# (and any "_<digits>_" squeezed out, so the first "_<digits>_<digits>_" is always the ids), "LATE"
# when late, the user id ("anon_<id>" when grading anonymously), the file's id, the uploaded name.
CANVAS = re.compile(r"(?:(?P<who>.+?)_)??(?P<late>LATE_)?(?P<student>\d+|anon_[A-Za-z0-9]+)"
                    r"_(?P<file_id>\d+)_(?P<name>.+)")
# Canvas renames a second upload of "x.ipynb" to "x-1.ipynb" (Attachment.make_unique_filename).
CANVAS_COPY = re.compile(r"(?P<stem>.+)-(?P<copy>\d+)(?P<ext>\.[A-Za-z0-9]+)")
# Moodle (mod/assign downloader): the full name with "_" turned into spaces, the participant id,
# the submission plugin; a folder per student, or the same prefix on each file name.
MOODLE_FOLDER = re.compile(r"(?P<who>[^_]+)_(?P<student>\d+)_assignsubmission_file_?")
MOODLE_FILE = re.compile(r"(?P<who>[^_]+)_(?P<student>\d+)_assignsubmission_file_(?P<name>.+)")
MOODLE_OTHER = re.compile(r"[^_]+_\d+_assignsubmission_(?P<plugin>[a-z]+)_?")


@dataclass(frozen=True)
class Upload:
    """One extracted file whose name says which student handed it in."""

    path: str  # absolute path in the extracted folder
    lms: str  # "Canvas" or "Moodle"
    student: str  # nbgrader student id: the Canvas user id or the Moodle participant id
    name: str  # the file name as the student uploaded it
    order: tuple[int, ...]  # later uploads sort higher; () when the LMS does not say


def identify(path: str, root: str) -> Upload | None:
    """Return who handed in the file at ``path`` (under ``root``) according to its name, or None."""
    parts = os.path.relpath(path, root).split(os.sep)
    name = parts[-1]
    match = CANVAS.fullmatch(name)
    if match:
        return Upload(path, "Canvas", match["student"], match["name"], (int(match["file_id"]),))
    match = MOODLE_FILE.fullmatch(name)
    if match:
        return Upload(path, "Moodle", match["student"], match["name"], ())
    # A Moodle folder per student, or a zip a student uploaded to Canvas that nbgrader unpacked
    # into a folder named after it: the nearest such folder says who.
    for folder in reversed(parts[:-1]):
        match = MOODLE_FOLDER.fullmatch(folder)
        if match:
            return Upload(path, "Moodle", match["student"], name, ())
        match = CANVAS.fullmatch(folder)
        if match:
            return Upload(path, "Canvas", match["student"], name, (int(match["file_id"]),))
    return None


def notebook_for(upload: Upload, notebooks: list[str]) -> str | None:
    """Return which of the assignment's ``notebooks`` the upload is, or None if its name is none of them."""
    if upload.name in notebooks:
        return upload.name
    copy = CANVAS_COPY.fullmatch(upload.name)
    if upload.lms == "Canvas" and copy and copy["stem"] + copy["ext"] in notebooks:
        return copy["stem"] + copy["ext"]
    return None


def _why_not(path: str, root: str, zip_ext: list[str]) -> str | None:
    """Return why a file whose name names no student is left out, or None for an archive nbgrader unpacked."""
    name = os.path.basename(path)
    if os.path.splitext(name)[1] in zip_ext:
        return None
    other = next((m for m in map(MOODLE_OTHER.match, os.path.relpath(path, root).split(os.sep)) if m), None)
    if other:
        return f"a Moodle {other['plugin']} submission, not an uploaded file"
    return "its name matches neither Canvas's nor Moodle's download names, so it says no student"


def plan(files: list[str], root: str, notebooks: list[str],
         zip_ext: list[str]) -> tuple[dict[str, tuple[str, str]], list[str], list[str]]:
    """Decide what to collect from the extracted ``files``.

    Returns ({path: (student, notebook)} to collect, lines about replaced uploads, lines about
    files left out and why).
    """
    chosen: dict[tuple[str, str], list[Upload]] = {}
    replaced, left_out = [], []
    for path in sorted(files):
        shown = os.path.relpath(path, root)
        upload = identify(path, root)
        if upload is None:
            reason = _why_not(path, root, zip_ext)
            if reason:
                left_out.append(f"{shown}: {reason}")
            continue
        notebook = notebook_for(upload, notebooks)
        if notebook is None:
            if os.path.splitext(upload.name)[1] not in zip_ext:
                left_out.append(f"{shown}: student {upload.student} uploaded {upload.name!r}, which is not one "
                                f"of the assignment's notebooks ({', '.join(notebooks)})")
            continue
        chosen.setdefault((upload.student, notebook), []).append(upload)
    collect = {}
    for (student, notebook), uploads in sorted(chosen.items()):
        uploads.sort(key=lambda u: u.order)
        newest = uploads[-1]
        if len(uploads) > 1 and not newest.order and not all(filecmp.cmp(u.path, newest.path, shallow=False)
                                                             for u in uploads):
            left_out.append(f"student {student}, {notebook}: {len(uploads)} different copies and nothing says "
                            "which is newer: " + ", ".join(os.path.relpath(u.path, root) for u in uploads))
            continue
        collect[newest.path] = (student, notebook)
        replaced += [f"student {student}, {notebook}: {os.path.relpath(u.path, root)} replaced by the later "
                     f"upload {os.path.relpath(newest.path, root)}" for u in uploads[:-1] if u.order != newest.order]
    return collect, replaced, left_out


class LmsCollector(FileNameCollectorPlugin):
    """zip_collect's file-name reader for Canvas and Moodle downloads (see the module's docstring)."""

    report_name = Unicode("collect_report.txt", help="Report of what was collected, replaced and left out, "
                                                    "written beside the archive folder.").tag(config=True)

    _plan: dict[str, tuple[str, str]] | None = None

    def collect(self, submitted_file: str) -> dict | None:
        """Return the student and notebook of one extracted file, or None if it is not collected."""
        if self._plan is None:
            self._plan = self._make_plan()
        found = self._plan.get(os.path.realpath(submitted_file))
        return None if found is None else {"student_id": found[0], "file_id": found[1]}

    def _folder(self, step: str) -> str:
        """Return zip_collect's folder for ``step`` (archive or extracted), as ZipCollectApp lays them out."""
        app = self.parent
        return os.path.join(app.coursedir.root, app.collect_directory_structure).format(
            downloaded=app.downloaded_directory, assignment_id=app.coursedir.assignment_id, collect_step=step)

    def _make_plan(self) -> dict[str, tuple[str, str]]:
        """Read every extracted file once, log and write the report; return {realpath: (student, notebook)}."""
        app = self.parent
        root = os.path.realpath(self._folder(app.extracted_directory))
        released = app.coursedir.format_path(app.coursedir.release_directory, ".", app.coursedir.assignment_id)
        notebooks = find_all_notebooks(released)
        if not notebooks:
            app.fail(f"No released notebooks in {released}: LmsCollector checks each file against them. "
                     "Run `python3 tasks.py release` (nbgrader generate_assignment) first.")
        files = [os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names]
        zip_ext = list(getattr(app.extractor_plugin_inst, "zip_ext", [".zip", ".gz"]))
        collect, replaced, left_out = plan(files, root, notebooks, zip_ext)
        for line in replaced:
            self.log.info("Resubmission: %s", line)
        for line in left_out:
            self.log.warning("NOT COLLECTED: %s", line)
        students = sorted({student for student, _ in collect.values()})
        summary = (f"{len(collect)} notebooks from {len(students)} students collected, {len(replaced)} older "
                   f"uploads replaced, {len(left_out)} files NOT collected.")
        report = os.path.join(os.path.dirname(root), self.report_name)
        with open(report, "w", encoding="utf-8") as out:
            out.write(summary + "\n")
            if left_out:
                out.write("\nNot collected (put such a file into course/submitted/<student>/<assignment>/ by hand "
                          "under the notebook's name, or ask the student):\n")
                out.writelines(f"  {line}\n" for line in left_out)
            if replaced:
                out.write("\nResubmissions:\n")
                out.writelines(f"  {line}\n" for line in replaced)
        (self.log.warning if left_out else self.log.info)("%s Report: %s", summary, report)
        return {os.path.realpath(path): found for path, found in collect.items()}


def _number(value: float) -> str:
    """Return a score as an LMS reads it: 25, 24.5, 0.33 (no trailing zeros)."""
    return f"{round(value, 2):g}"


class _LmsGrades(ExportPlugin):
    """What both LMS exports share: which scores, on which scale, for whom."""

    out_of = Float(0.0, help="Scale every score to this maximum (the LMS assignment's points); "
                             "0 keeps nbgrader's points.").tag(config=True)

    def _assignments(self, gb: Gradebook) -> list:
        """Return the assignments to export: those chosen with --assignment, else all of them."""
        chosen = [a for a in gb.assignments if not self.assignment or a.name in map(str, self.assignment)]
        if not chosen:
            self._fail(f"No assignment to export (asked for {self.assignment}, the gradebook has "
                             f"{[a.name for a in gb.assignments]}).")
        return chosen

    def _fail(self, message: str) -> None:
        """Stop the export with ``message`` (nbgrader's own way: logged, exit code 1)."""
        if hasattr(self.parent, "fail"):
            self.parent.fail(message)
        raise ValueError(message)

    def _students(self, gb: Gradebook) -> list:
        """Return the students to export: those chosen with --student, else all of them."""
        return [s for s in gb.students if not self.student or s.id in map(str, self.student)]

    def _score(self, gb: Gradebook, assignment, student_id: str) -> float:
        """Return the score as nbgrader's own export gives it (late penalty taken off, no submission: 0), scaled."""
        try:
            submission = gb.find_submission(assignment.name, student_id)
        except MissingEntry:
            score = 0.0
        else:
            score = max(0.0, submission.score - (submission.late_submission_penalty or 0.0))
        return self._scaled(score, assignment.max_score)

    def _scaled(self, points: float, max_score: float) -> float:
        """Return ``points`` on the LMS's scale (``out_of``), or unchanged when out_of is 0."""
        return points * self.out_of / max_score if self.out_of and max_score else points

    def _write(self, default: str, rows: list[list[str]]) -> None:
        """Write ``rows`` as UTF-8 CSV to --to (or ``default``)."""
        dest = self.to or default
        with open(dest, "w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(rows)
        self.log.info("Wrote %d students to %s", len(rows) - 1, dest)


class CanvasGradesExport(_LmsGrades):
    """A CSV for Canvas's Grades > Import: the columns of Canvas's own gradebook export.

    Canvas matches each row on ``ID`` (its user id: what LmsCollector takes as the student id from
    Canvas's file names) or else on ``SIS User ID``/``SIS Login ID``; a student id that is not a
    number (a JupyterHub login, say) goes into ``SIS Login ID``. ``Section`` must be there and may
    be empty. One column per assignment, headed ``Name (Canvas id)`` to fill an existing Canvas
    assignment (set ``column``), or a plain name for Canvas to create one; the ``Points Possible``
    row gives its maximum, as in Canvas's export.
    """

    column = Unicode("", help="Header of the assignment's column, e.g. 'Chapter 8 lab (123456)' with the Canvas "
                              "assignment's id; default: the nbgrader assignment name.").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        """Write the Canvas import CSV (default file name canvas_grades.csv)."""
        assignments = self._assignments(gradebook)
        names = [self.column if self.column and len(assignments) == 1 else a.name for a in assignments]
        rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *names],
                ["Points Possible", "", "", "", "", *[_number(self._scaled(a.max_score, a.max_score))
                                                     for a in assignments]]]
        for student in self._students(gradebook):
            name = ", ".join(n for n in (student.last_name, student.first_name) if n) or student.id
            canvas_id, login = (student.id, "") if student.id.isdigit() else ("", student.id)
            rows.append([name, canvas_id, "", login, "",
                         *[_number(self._score(gradebook, a, student.id)) for a in assignments]])
        self._write("canvas_grades.csv", rows)


class MoodleGradesExport(_LmsGrades):
    """A CSV that Moodle imports either way, for one assignment.

    * Assignment > Upload grading worksheet: Moodle needs ``Identifier`` ("Participant <id>", the
      participant id that LmsCollector takes from Moodle's download), ``Grade`` and ``Last modified
      (grade)`` (the export's time: Moodle keeps a grade changed in Moodle after it).
    * Grades > Import > CSV file: map ``Username`` (a student id that is not a participant number,
      e.g. a JupyterHub login equal to the Moodle username) and ``Grade`` to the grade item.
    ``Full name`` and ``Maximum Grade`` are there for the person checking the file.
    """

    def export(self, gradebook: Gradebook) -> None:
        """Write the Moodle CSV (default file name moodle_grades.csv)."""
        assignments = self._assignments(gradebook)
        if len(assignments) > 1:
            self._fail("A Moodle grading worksheet holds one assignment: choose it with --assignment=[NAME] "
                             f"(the gradebook has {[a.name for a in assignments]}).")
        assignment = assignments[0]
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [["Identifier", "Full name", "Username", "Grade", "Maximum Grade", "Last modified (grade)"]]
        for student in self._students(gradebook):
            name = " ".join(n for n in (student.first_name, student.last_name) if n)
            identifier, username = (f"Participant {student.id}", "") if student.id.isdigit() else ("", student.id)
            rows.append([identifier, name, username, _number(self._score(gradebook, assignment, student.id)),
                         _number(self._scaled(assignment.max_score, assignment.max_score)), now])
        self._write("moodle_grades.csv", rows)
