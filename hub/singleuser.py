"""Start one person's Jupyter server on the class hub: the lab guide at hand, the lab fetched, JupyterLab on it.

JupyterHub runs this as the user (hub/jupyterhub_config.py, Spawner.cmd), in their home folder,
then it becomes `jupyterhub-singleuser` with the same arguments. Before that it

* links ~/labguide to the lab guide of the hub's checkout (read-only for students, one copy);
* for a student whose home has no ch8/ yet, fetches the lab from nbgrader's exchange once the
  instructor has released it (the copy the Assignments panel's Fetch makes), so that
  JupyterLab opens on the first notebook; before the release JupyterLab opens on the launcher
  and the Assignments panel (Nbgrader menu) shows the lab as soon as it is released.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ASSIGNMENT = "ch8"
FIRST_NOTEBOOK = "01_overfitting.ipynb"
# What nbgrader's fetch leaves out (its CourseDirectory.ignore).
NOT_FETCHED = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")


def link_labguide(home: Path, labguide: Path) -> None:
    """Make ~/labguide point at the shared lab guide, unless the user has a labguide of their own."""
    link = home / "labguide"
    if labguide.is_dir() and not link.exists() and not link.is_symlink():
        link.symlink_to(labguide, target_is_directory=True)


def outbound(exchange: Path, course_id: str) -> Path:
    """Return where the instructor's release puts the lab in nbgrader's exchange."""
    return exchange / course_id / "outbound" / ASSIGNMENT


def fetch_lab(home: Path, released: Path) -> None:
    """Copy the released lab into ``home`` (which has none yet) as nbgrader's fetch does.

    nbgrader's default exchange fetches by copying the release into the home, minus checkpoints
    and caches; the same copy here spares every login nbgrader's own start (about 3 CPU seconds,
    nearly half of a server's start: a class logging in at once waits for the sum). Whatever
    happens, the server starts: if the copy fails, the Assignments panel offers the fetch again.
    """
    try:
        shutil.copytree(released, home / ASSIGNMENT, ignore=shutil.ignore_patterns(*NOT_FETCHED))
    except OSError as error:  # a partial copy would pass for the fetched lab
        shutil.rmtree(home / ASSIGNMENT, ignore_errors=True)
        print(f"singleuser.py: could not fetch {released}: {error}", file=sys.stderr)


def main() -> None:
    """Prepare the home folder, then replace this process with jupyterhub-singleuser."""
    home = Path.home()
    link_labguide(home, Path(os.environ.get("CH8_LABGUIDE", "")))
    lab = home / ASSIGNMENT
    exchange = Path(os.environ.get("CH8_EXCHANGE", "/srv/nbgrader/exchange"))
    release = outbound(exchange, os.environ.get("CH8_COURSE_ID", "grokking-ch8"))
    if os.environ.get("CH8_ROLE") == "student" and not lab.exists() and release.is_dir():
        fetch_lab(home, release)
    if (lab / FIRST_NOTEBOOK).is_file():
        os.environ["JUPYTERHUB_DEFAULT_URL"] = f"/lab/tree/{ASSIGNMENT}/{FIRST_NOTEBOOK}"
    server = Path(sys.executable).parent / "jupyterhub-singleuser"
    os.execv(server, [str(server), *sys.argv[1:]])


if __name__ == "__main__":
    main()
