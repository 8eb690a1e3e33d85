"""The course's settings, read from its nbgrader_config.py: one place for every folder and name.

The runner, the summary, the integrity scan and the class report all ask ``course_settings()``
where things are, so that ``nbgrader autograde``, the formgrader's Autograde button and
``python3 tasks.py autograde`` write and read the same files, and a course that moves a folder
changes one line of its configuration.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from traitlets import Unicode
from traitlets.config import Configurable


class LabCourse(Configurable):
    """The lab's own course settings (``c.LabCourse.*`` in nbgrader_config.py)."""

    assignment = Unicode("ch8", help="The assignment every lab tool works on (nbgrader's assignment id).").tag(config=True)
    summary = Unicode("course/autograde_summary.csv", help="The autograde summary (CSV), from the course folder.").tag(
        config=True)
    integrity = Unicode("course/integrity.csv", help="The integrity table (CSV), from the course folder.").tag(config=True)


@dataclass(frozen=True)
class CourseSettings:
    """Where a course keeps everything, as its configuration says."""

    root: Path
    assignment: str
    course_id: str
    db_url: str
    source: Path
    release: Path
    submitted: Path
    autograded: Path
    feedback: Path
    status_dir: Path
    summary: Path
    integrity: Path

    def submission(self, student: str) -> Path:
        """Return the folder of one student's submitted notebooks."""
        return self.submitted / student / self.assignment

    def notebooks(self) -> list[str]:
        """Return the assignment's notebook names, from the released copies."""
        return sorted(path.stem for path in (self.release / self.assignment).glob("*.ipynb"))


def load_config(course: Path, overrides: list[str] | tuple[str, ...] = ()):
    """Return the traitlets Config of ``course``'s nbgrader_config.py with ``--Class.trait=value`` overrides on top."""
    from traitlets.config.loader import KVArgParseConfigLoader, PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    if overrides:
        config.merge(KVArgParseConfigLoader(list(overrides)).load_config())
    return config


def course_settings(course: Path, overrides: list[str] | tuple[str, ...] = (), config=None) -> CourseSettings:
    """Return the settings of the course folder ``course`` (its nbgrader_config.py, plus overrides)."""
    from nbgrader.coursedir import CourseDirectory

    config = config if config is not None else load_config(course, overrides)
    directory = CourseDirectory(config=config)
    lab = LabCourse(config=config)
    root = Path(directory.root or course).resolve()

    def place(value: str) -> Path:
        return (root / value).resolve()

    status = config.GradingExecute.get("status_dir") or "course/grading_status"
    return CourseSettings(root=root, assignment=lab.assignment, course_id=directory.course_id, db_url=directory.db_url,
                          source=place(directory.source_directory), release=place(directory.release_directory),
                          submitted=place(directory.submitted_directory),
                          autograded=place(directory.autograded_directory),
                          feedback=place(directory.feedback_directory), status_dir=place(status),
                          summary=place(lab.summary), integrity=place(lab.integrity))
