"""nbgrader configuration for the chapter 8 lab. Every nbgrader command works from this folder.

Folders: the source notebooks (with solutions and hidden tests) are solutions/<assignment>/, the
student copies are notebooks/<assignment>/; submissions, autograded copies, feedback, the
exchange and the gradebook live under course/ (git-ignored: they hold students' data).
"""
import os
import warnings

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearOutput,
                                    DeduplicateIds, GetGrades, IgnorePattern, LimitOutput, OverwriteKernelspec,
                                    SaveAutoGrades)

from instructor.gradebook import course_db_url
from instructor.lms import LmsCollector
from instructor.nbgrader_steps import GradingExecute, GradingHooks, HideHiddenChecks, RestoreMissingCells
from sqlalchemy.exc import SAWarning

# nbgrader 0.9 builds each new submission's database rows before adding them to the session;
# SQLAlchemy 2 warns about that ("Object of type <SubmittedAssignment> not in session ...") on
# every autograde, then nbgrader adds them and the grades are stored correctly (the pipeline
# tests read them back). Silence exactly that message so that real warnings stand out.
warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session", category=SAWarning)

ROOT = os.path.dirname(os.path.abspath(__file__))
COURSE = os.path.join(ROOT, "course")

os.makedirs(COURSE, exist_ok=True)  # sqlite cannot create the folder of its database

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.root = ROOT
# On the class hub (hub/jupyterhub_config.py) every server gets the course id and the shared
# exchange in these two variables, so the graders' and the students' nbgrader agree on both.
c.CourseDirectory.course_id = os.environ.get("CH8_COURSE_ID", "grokking-ch8")
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = os.path.join("course", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("course", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("course", "feedback")
# The gradebook: course/gradebook.db (SQLite, set up for several graders writing at once), or the
# PostgreSQL database named by the environment variable LAB_GRADEBOOK_URL, which several grading
# machines can share (instructor/gradebook.py; the README says how to split a class between machines).
DB_URL = course_db_url(COURSE)
c.CourseDirectory.db_url = DB_URL
# The default exchange (/srv/nbgrader/exchange) is not writable on most machines: on one machine the
# exchange lives in course/. nbgrader wants it to exist and be writable by everyone (students drop
# their submissions there); without it the formgrader greys out release and collect.
# On the class hub the exchange is shared by everyone and named by CH8_EXCHANGE.
LOCAL_EXCHANGE = os.path.join(COURSE, "exchange")
EXCHANGE = os.environ.get("CH8_EXCHANGE") or LOCAL_EXCHANGE
if EXCHANGE == LOCAL_EXCHANGE and not os.path.isdir(EXCHANGE):
    os.makedirs(EXCHANGE, exist_ok=True)
    os.chmod(EXCHANGE, 0o777)
c.Exchange.root = EXCHANGE
# A hand-in counts only for the account that made it: nbgrader itself files one handed in under
# another student's name (`nbgrader submit --student OTHER`) over OTHER's work, with a warning.
c.ExchangeFactory.collect = "instructor.exchange.OwnerCheckedCollect"

# Autograding: the student copies carry kernel name "python3"; force it in case a student's
# JupyterLab saved another (a conda env name, say), which would make nbgrader fail to start it.
c.Execute.kernel_name = "python3"
# Per cell. With NBGRADER_EXECUTION set the long runs are short (each cell < 5 s here), so a cell
# that needs a minute is a loop that never ends: nbgrader interrupts it, records the error and
# goes on with the next cell and the next submission.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# The lab's Execute step (instructor/nbgrader_steps.py): every check runs in the grader, where the
# student's code cannot reach it (instructor/checker.py); every kernel runs in the grading sandbox
# (instructor/sandbox.py: bubblewrap; a copy of its own folder, no network, nothing of the course,
# limits); a kernel that dies costs only the rest of its notebook; a 5-minute budget per notebook (a
# placeholder that never returns is called by several checks); the demonstration runs after the
# last check are skipped. It records what happened to each notebook, one verdict per check, in
# course/grading_status/ (instructor/verdicts.py), which the summary, the report and the scan read.
# Grading without the sandbox (sandbox = False, or `tasks.py autograde --no-sandbox`) is for
# submissions you trust only; it warns on every run.
c.GradingExecute.sandbox = True
c.GradingExecute.notebook_timeout = 300
c.GradingExecute.memory_limit_mb = 4096
c.GradingExecute.status_dir = os.path.join(COURSE, "grading_status")
# The assignment the lab's own tools work on, and where they write the summary and the integrity table.
c.LabCourse.assignment = "ch8"
c.LabCourse.summary = os.path.join("course", "autograde_summary.csv")
c.LabCourse.integrity = os.path.join("course", "integrity.csv")
c.Autograde.autograde_preprocessors = [
    GradingExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata]
# A file that is not a notebook (cut off while saving, not JSON) would make nbgrader skip the
# student's remaining notebooks: it is taken out before grading and scored 0 with a page saying why.
# After each student, the same hooks scan the answer cells and (outside tasks.py autograde, which
# does it once at the end) write the summary and the integrity table, so that `nbgrader autograde`
# and the formgrader's Autograde button leave the same files as the lab's runner.
_hooks = GradingHooks(course=ROOT, default_db_url=DB_URL)
c.Autograde.pre_convert_hook = _hooks.before
c.Autograde.post_convert_hook = _hooks.after
# A student who deleted a graded test cell still gets it run: nbgrader puts it back. Its own
# version of this step crashes when the cell before a deleted one is locked Markdown (KeyError),
# so the lab uses a fixed one (instructor/nbgrader_steps.py) in the same place of the pipeline.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreMissingCells, CheckCellMetadata]

# Feedback must not show the hidden tests' code (nbgrader's default feedback prints it), nor any
# traceback or quoted line of it, whatever a hidden check raised: one sentence per error.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenChecks, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# The stub says what to do when a student runs it too early (a bare NotImplementedError says nothing).
c.ClearSolutions.code_stub = {"python": '# YOUR CODE HERE\nraise NotImplementedError("not written yet: replace this line with your code")'}
# A written answer (a Markdown cell graded by hand in the formgrader): nbgrader replaces the whole
# source cell, model answer and rubric included, by this line. A copy handed in with the line left
# as it is scores 0 without grading, and the grader sees "No response." (nbgrader's checksum).
c.ClearSolutions.text_stub = "YOUR ANSWER HERE: double-click this cell, replace this line with your answer, then press Shift+Enter."

# Submissions downloaded from Canvas or Moodle: the LMS's zip goes into course/downloaded/ch8/archive/,
# then `nbgrader zip_collect ch8` files each notebook under its student by the names those LMS give,
# and lists what it could not place in course/downloaded/ch8/collect_report.txt (instructor/lms.py).
c.ZipCollectApp.downloaded_directory = os.path.join("course", "downloaded")
c.ZipCollectApp.collector_plugin = LmsCollector
