"""Where the gradebook lives and how it stays whole when several graders write to it at once.

nbgrader keeps every grade in one SQLAlchemy database, ``CourseDirectory.db_url``. The lab's
nbgrader_config.py asks ``course_db_url()`` for it:

* by default an SQLite file, course/gradebook.db, set up for several writers at once: each
  connection waits up to ``BUSY_TIMEOUT`` seconds for a lock instead of failing with "database is
  locked", and the file uses write-ahead logging (WAL), so that readers (the formgrader, an
  export) never block the graders and the graders never block them. WAL needs shared memory
  between the processes, which network file systems (NFS, SMB, ...) do not give: there the file
  keeps SQLite's classic journal, and the gradebook must stay on one machine.
* a PostgreSQL database when the environment variable ``LAB_GRADEBOOK_URL`` names one, e.g.
  ``postgresql://grader@db.example.edu/ch8``: the department's server, which several autograding
  machines can share. Passwords belong in ~/.pgpass or PGPASSWORD, not in the URL.

``python -m instructor.gradebook`` says which database the course uses, creates its tables if
needed and checks that it answers; run it once before starting several graders on a new database.
"""
from __future__ import annotations

import importlib.util
import os
import sqlite3
import sys
from pathlib import Path

URL_VARIABLE = "LAB_GRADEBOOK_URL"
BUSY_TIMEOUT = 60  # seconds a writer waits for another's lock; one grader holds it for milliseconds
# File systems on which SQLite's WAL mode is unsafe (its index lives in memory shared between processes).
NETWORK_FILE_SYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs",
                        "lustre", "gpfs", "beegfs", "fuse.sshfs", "fuse.glusterfs", "fuse.cephfs"}

_sqlite_files: dict[str, bool] = {}  # realpath of each course's gradebook -> may use WAL


def postgres_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver named, as SQLAlchemy needs it for PostgreSQL."""
    # SQLAlchemy reads a bare postgresql:// as psycopg2, which the lab does not install, and no
    # longer accepts the postgres:// that some hosting services hand out.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def course_db_url(course_dir: str | os.PathLike) -> str:
    """Return the gradebook URL for the course in ``course_dir``: $LAB_GRADEBOOK_URL, else its SQLite file."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if url:
        url = postgres_url(url)
        if url.startswith("postgresql+psycopg") and importlib.util.find_spec("psycopg") is None:
            raise RuntimeError(f"{URL_VARIABLE} names a PostgreSQL gradebook, but the psycopg driver is not "
                               "installed in this Python: run `python3 tasks.py setup` (or pip install -r "
                               "requirements.txt) and try again.")
        return url
    path = Path(course_dir) / "gradebook.db"
    use_sqlite_for_many_writers(path)
    return "sqlite:///" + str(path)


def network_file_system(path: str | os.PathLike, mounts_file: str = "/proc/mounts") -> str | None:
    """Return the type of the network file system holding ``path``, or None on a local disk (or unknown)."""
    try:
        mounts = Path(mounts_file).read_text().splitlines()
    except OSError:  # not Linux: no way to tell, assume a local disk
        return None
    target, best, fs_type = os.path.realpath(path), "", None
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, fs_type = mount_point, fields[2]
    return fs_type if fs_type in NETWORK_FILE_SYSTEMS else None


def use_sqlite_for_many_writers(path: str | os.PathLike) -> None:
    """Make every SQLAlchemy connection to the SQLite file ``path`` wait for locks and use WAL where safe."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    folder = os.path.dirname(os.path.realpath(path))
    _sqlite_files[os.path.realpath(path)] = network_file_system(folder) is None
    # One listener for all engines (nbgrader makes a new engine for every Gradebook it opens).
    if not event.contains(Engine, "connect", _set_up_sqlite_connection):
        event.listen(Engine, "connect", _set_up_sqlite_connection)


def _set_up_sqlite_connection(dbapi_connection, connection_record) -> None:
    """On each new connection to a course gradebook: a busy timeout, then WAL unless on a network disk."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    main_file = dbapi_connection.execute("PRAGMA database_list").fetchone()[2]
    wal_allowed = _sqlite_files.get(os.path.realpath(main_file)) if main_file else None
    if wal_allowed is None:
        return  # another SQLite database (nbgrader's temporary ones, say): leave it as it is
    dbapi_connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT * 1000}")
    # The journal mode is stored in the file: the first connection switches it, the others find it set.
    if wal_allowed and dbapi_connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        dbapi_connection.execute("PRAGMA journal_mode = WAL")


def prepare(db_url: str, course_id: str) -> dict[str, int]:
    """Create the gradebook's tables if missing; return the number of students, assignments and submissions.

    nbgrader creates the tables the first time it opens a database, by looking and then creating:
    graders that start together on an empty database race each other. Call this once first.
    """
    from nbgrader.api import Gradebook

    # On a new database nbgrader asks the `alembic` program (installed beside this Python) for the
    # schema's version; a Python started by its full path does not have that folder on PATH.
    bin_dir = os.path.dirname(sys.executable)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    with Gradebook(db_url, course_id) as gb:
        return {"students": len(gb.students), "assignments": len(gb.assignments),
                "submissions": sum(len(a.submissions) for a in gb.assignments)}


def gradebook_rows(db_url: str, course_id: str, assignment: str, student: str) -> list[tuple]:
    """Return everything the gradebook holds on one submission, sorted, without ids and times.

    One row for the submission, one per graded cell, one per comment: what must come out the same
    whichever database (or however many graders) did the grading.
    """
    from nbgrader.api import Gradebook

    with Gradebook(db_url, course_id) as gb:
        submission = gb.find_submission(assignment, student)
        rows: list[tuple] = [("submission", student, submission.score, submission.max_score,
                              submission.late_submission_penalty, submission.needs_manual_grade)]
        for notebook in submission.notebooks:
            rows += [("grade", notebook.name, g.name, g.auto_score, g.manual_score, g.extra_credit, g.max_score,
                      g.needs_manual_grade) for g in notebook.grades]
            rows += [("comment", notebook.name, c.name, c.auto_comment, c.manual_comment) for c in notebook.comments]
    return sorted(rows, key=repr)


def describe(db_url: str) -> str:
    """Return one line saying which database ``db_url`` is, without its password."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(url.database) as connection:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        return f"SQLite file {url.database} (journal mode {mode})"
    return f"{url.get_backend_name()} database {url.database} on {url.host or 'the local socket'}" + (
        f":{url.port}" if url.port else "") + (f" as {url.username}" if url.username else "")


def main() -> int:
    """Print which gradebook the course in the current folder uses, after creating its tables."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()
    db_url, course_id = config.CourseDirectory.db_url, config.CourseDirectory.course_id
    try:
        counts = prepare(db_url, course_id)
    except Exception as error:  # the driver's own message says what failed (host, password, database)
        print(f"The gradebook {db_url!r} cannot be opened: {error}\nCheck {URL_VARIABLE}, the server "
              "and your credentials (~/.pgpass), then run this again.", file=sys.stderr)
        return 1
    print(f"Gradebook: {describe(db_url)}")
    print(", ".join(f"{n} {what}" for what, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
