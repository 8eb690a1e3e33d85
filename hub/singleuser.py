"""Start one person's Jupyter server on the class hub: the lab guide at hand, the lab fetched, JupyterLab on it.

JupyterHub runs this as the user (hub/jupyterhub_config.py, Spawner.cmd), in their home folder,
then it becomes `jupyterhub-singleuser` with the same arguments. Before that it

* links ~/labguide to the lab guide of the hub's checkout (read-only for students, one copy);
* for a student whose home has no ch8/ yet, fetches the lab through nbgrader's exchange once the
  instructor has released it (the same fetch as the Assignments panel's button), so that
  JupyterLab opens on the first notebook; before the release JupyterLab opens on the launcher
  and the Assignments panel (Nbgrader menu) shows the lab as soon as it is released.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ASSIGNMENT = "ch8"
FIRST_NOTEBOOK = "01_overfitting.ipynb"
# nbgrader's start costs about 3 CPU seconds; a class logging in at once on a busy machine shares
# the cores, so give it time, but leave the server (Spawner.http_timeout = 300 s) time to start after.
FETCH_TIMEOUT_S = 150


def link_labguide(home: Path, labguide: Path) -> None:
    """Make ~/labguide point at the shared lab guide, unless the user has a labguide of their own."""
    link = home / "labguide"
    if labguide.is_dir() and not link.exists() and not link.is_symlink():
        link.symlink_to(labguide, target_is_directory=True)


def released(exchange: Path, course_id: str) -> bool:
    """Return whether the instructor has released the lab into the exchange."""
    return (exchange / course_id / "outbound" / ASSIGNMENT).is_dir()


def fetch_lab(home: Path) -> None:
    """Fetch the lab into ``home`` with nbgrader (course id and exchange come from the hub's config).

    Called only when ``home`` has no lab yet. Whatever happens, the server starts: if the fetch
    fails or takes too long, the Assignments panel offers it again.
    """
    try:
        done = subprocess.run([sys.executable, "-m", "nbgrader", "fetch_assignment", ASSIGNMENT],
                              cwd=home, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
    except subprocess.TimeoutExpired:  # stopped halfway: a partial copy would pass for the fetched lab
        shutil.rmtree(home / ASSIGNMENT, ignore_errors=True)
        print(f"singleuser.py: nbgrader fetch_assignment {ASSIGNMENT} took over {FETCH_TIMEOUT_S} s; "
              "starting without it", file=sys.stderr)
        return
    if done.returncode != 0:
        print(f"singleuser.py: nbgrader fetch_assignment {ASSIGNMENT} failed:\n{done.stderr}", file=sys.stderr)


def main() -> None:
    """Prepare the home folder, then replace this process with jupyterhub-singleuser."""
    home = Path.home()
    link_labguide(home, Path(os.environ.get("CH8_LABGUIDE", "")))
    lab = home / ASSIGNMENT
    exchange = Path(os.environ.get("CH8_EXCHANGE", "/srv/nbgrader/exchange"))
    if (os.environ.get("CH8_ROLE") == "student" and not lab.exists()
            and released(exchange, os.environ.get("CH8_COURSE_ID", "grokking-ch8"))):
        fetch_lab(home)
    if (lab / FIRST_NOTEBOOK).is_file():
        os.environ["JUPYTERHUB_DEFAULT_URL"] = f"/lab/tree/{ASSIGNMENT}/{FIRST_NOTEBOOK}"
    server = Path(sys.executable).parent / "jupyterhub-singleuser"
    os.execv(server, [str(server), *sys.argv[1:]])


if __name__ == "__main__":
    main()
