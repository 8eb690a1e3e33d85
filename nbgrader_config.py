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
from instructor.nbgrader_steps import NotebookTimeLimit, RestoreMissingCells
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
c.CourseDirectory.course_id = "grokking-ch8"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = os.path.join("course", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("course", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("course", "feedback")
# The gradebook: course/gradebook.db (SQLite, set up for several graders writing at once), or the
# PostgreSQL database named by the environment variable LAB_GRADEBOOK_URL, which several grading
# machines can share (instructor/gradebook.py; the README says how to split a class between machines).
c.CourseDirectory.db_url = course_db_url(COURSE)
# The default exchange (/srv/nbgrader/exchange) is not writable on most machines: on one machine the
# exchange lives in course/. nbgrader wants it to exist and be writable by everyone (students drop
# their submissions there); without it the formgrader greys out release and collect.
EXCHANGE = os.path.join(COURSE, "exchange")
if not os.path.isdir(EXCHANGE):
    os.makedirs(EXCHANGE, exist_ok=True)
    os.chmod(EXCHANGE, 0o777)
c.Exchange.root = EXCHANGE

# Autograding: the student copies carry kernel name "python3"; force it in case a student's
# JupyterLab saved another (a conda env name, say), which would make nbgrader fail to start it.
c.Execute.kernel_name = "python3"
# Per cell. With NBGRADER_EXECUTION set the long runs are short (each cell < 5 s here), so a cell
# that needs a minute is a loop that never ends: nbgrader interrupts it, records the error and
# goes on with the next cell and the next submission.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# ... and per notebook: a placeholder that never returns is called by several cells, so each
# notebook also gets 5 minutes in all (a correct one needs under 10 s while autograding).
c.NotebookTimeLimit.notebook_timeout = 300
c.Autograde.autograde_preprocessors = [
    NotebookTimeLimit, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata]
# A student who deleted a graded test cell still gets it run: nbgrader puts it back. Its own
# version of this step crashes when the cell before a deleted one is locked Markdown (KeyError),
# so the lab uses a fixed one (instructor/nbgrader_steps.py) in the same place of the pipeline.
c.OverwriteCells.add_missing_cells = True
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreMissingCells, CheckCellMetadata]

# Feedback must not show the hidden tests' code (nbgrader's default feedback prints it).
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# The stub says what to do when a student runs it too early (a bare NotImplementedError says nothing).
c.ClearSolutions.code_stub = {"python": '# YOUR CODE HERE\nraise NotImplementedError("not written yet: replace this line with your code")'}

# Submissions downloaded from Canvas or Moodle: the LMS's zip goes into course/downloaded/ch8/archive/,
# then `nbgrader zip_collect ch8` files each notebook under its student by the names those LMS give,
# and lists what it could not place in course/downloaded/ch8/collect_report.txt (instructor/lms.py).
c.ZipCollectApp.downloaded_directory = os.path.join("course", "downloaded")
c.ZipCollectApp.collector_plugin = LmsCollector
