"""The checks of `python3 tasks.py doctor` that need the lab's packages, run in .venv's Python.

    python -B -m instructor.doctor --root DIR PART...     (PART: venv, mnist, course, sandbox, gradebook)

prints one JSON object, {part: [present, what was found, the command that fixes it]}, which
tasks.py (standard library only) shows in its table. Nothing here changes anything: MNIST is
never downloaded, nbgrader_config.py is read, not run (running it makes folders and takes
seconds of imports), the gradebook is only connected to.

Also used by tests/test_environment.py: what requirements.lock pins for this Python and platform,
and how the installed packages differ from it.
"""
from __future__ import annotations

import argparse
import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "ch8"
HELPERS = "ch8-helpers"  # this repository's own package (pip install -e .), not in the lock
NOT_LOCKED = {HELPERS, "pip"}  # installed in every .venv, never pinned by the lock
Row = tuple[bool, str, str]  # (present, what was found, the one command that fixes it)


def _venv_python(root: Path) -> str:
    """Return this Python as a command typed in the lab's folder ``root`` (.venv/bin/python)."""
    try:
        relative = os.path.relpath(sys.executable, root)
    except ValueError:  # another drive (Windows)
        return sys.executable
    return sys.executable if relative.startswith("..") else relative


# -- the lock --------------------------------------------------------------------------------------

def lock_requirements(lock: Path) -> list[Requirement]:
    """Return every pin of ``lock`` as a requirement (name==version ; marker), hashes left out."""
    text = re.sub(r"\\\s*\n", " ", lock.read_text())  # a pin and its --hash lines are one logical line
    pins = []
    for line in text.splitlines():
        line = re.sub(r"--hash=\S+", "", line.split(" #")[0]).strip()
        if line and not line.startswith("#"):
            pins.append(Requirement(line))
    return pins


def locked_here(lock: Path) -> dict[str, str]:
    """Return {package: version} that ``lock`` pins for this Python and platform."""
    return {canonicalize_name(pin.name): next(iter(pin.specifier)).version
            for pin in lock_requirements(lock) if pin.marker is None or pin.marker.evaluate()}


def installed() -> dict[str, str]:
    """Return {package: version} of every distribution installed in this Python's environment (its site-packages)."""
    # Only there: sys.path may hold other folders with package metadata (setuptools, once imported,
    # adds its _vendor folder, whose packaging and platformdirs are not the environment's).
    places = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    return {canonicalize_name(dist.metadata["Name"]): dist.version
            for dist in importlib.metadata.distributions(path=places)}


def lock_differences(lock: Path) -> list[str]:
    """Return, in words, every locked package that is missing or installed at another version."""
    have, problems = installed(), []
    for name, version in sorted(locked_here(lock).items()):
        if name not in have:
            problems.append(f"{name} is not installed (lock: {version})")
        elif have[name] != version:
            problems.append(f"{name} {have[name]} is installed (lock: {version})")
    return problems


def not_in_lock(lock: Path) -> list[str]:
    """Return the installed packages the lock does not name (installed by hand)."""
    named = {canonicalize_name(pin.name) for pin in lock_requirements(lock)}
    return sorted(set(installed()) - named - NOT_LOCKED)


def check_venv(root: Path) -> Row:
    """Are the installed packages exactly the lock's?"""
    lock = root / "requirements.lock"
    problems = lock_differences(lock)
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        return False, "; ".join(problems[:3]) + more, "python3 tasks.py setup --force"
    extra = not_in_lock(lock)
    note = f"; also installed by hand: {', '.join(extra)}" if extra else ""
    return True, f"{len(locked_here(lock))} packages exactly as {lock.name} pins them{note}", ""


# -- MNIST -------------------------------------------------------------------------------------------

def check_mnist(root: Path) -> Row:
    """Are the four MNIST files where load_data() looks, and do they match their checksums?"""
    from helpers import mnist

    folder, paths = mnist.local_files()
    where = f"MNIST_DIR={folder}" if os.environ.get("MNIST_DIR", "").strip() else f"the cache {folder}"
    download = f"{_venv_python(root)} -m helpers.mnist download" + (
        f" --dir {folder}" if os.environ.get("MNIST_DIR", "").strip() else "")
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        what = ("does not exist" if not folder.is_dir() else "has none of the four files" if len(missing) == 4
                else f"lacks {', '.join(missing)}(.gz)")
        later = "" if os.environ.get("MNIST_DIR", "").strip() else " (load_data() would download them, if online)"
        return False, f"{where} {what}{later}", download
    if mnist.verified_unchanged(paths):
        return True, f"{where}, verified (unchanged since load_data() checked it)", ""
    try:
        mnist.verify(folder)
    except mnist.MnistError as error:
        bad = [str(path) for path in paths.values() if str(path) in str(error)]
        return False, f"{where}: {', '.join(Path(b).name for b in bad) or 'a file'} fails its checksum", \
            f"rm {' '.join(bad)} && {download}"
    return True, f"{where}, verified now (SHA-256 of each file)", ""


# -- nbgrader's course configuration ----------------------------------------------------------------

def _findable(module: str) -> bool:
    """Tell whether ``module`` can be imported, without importing it (nbgrader's imports take seconds)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        return False
    places = [Path(place) for place in (spec.submodule_search_locations or [])]
    for part in rest:
        if any((place / f"{part}.py").is_file() or list(place.glob(f"{part}.*.so")) for place in places):
            places = []
            continue
        places = [place / part for place in places if (place / part).is_dir()]
        if not places:
            return False
    return True


def check_course(root: Path) -> Row:
    """Does nbgrader_config.py find everything it imports, and the course's source notebooks?"""
    config = root / "nbgrader_config.py"
    if not config.is_file():
        return False, "nbgrader_config.py is missing", "git checkout -- nbgrader_config.py"
    tree = ast.parse(config.read_text(), filename=str(config))
    modules = sorted({node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
                     | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names})
    missing = [module for module in modules if not _findable(module)]
    if missing:
        return False, f"nbgrader_config.py imports {', '.join(missing)}, which .venv lacks", \
            "python3 tasks.py setup --force"
    source = root / "solutions" / ASSIGNMENT
    notebooks = sorted(source.glob("*.ipynb"))
    if not notebooks:
        return False, f"no source notebooks in solutions/{ASSIGNMENT}", "git checkout -- solutions"
    course = os.environ.get("CH8_COURSE_ID", "grokking-ch8")
    return True, f"course {course}: its {len(modules)} imports are there; {len(notebooks)} notebooks in solutions/{ASSIGNMENT}", ""


# -- the grading sandbox ----------------------------------------------------------------------------

def check_sandbox(root: Path) -> Row:
    """Can grading kernels run in the bubblewrap sandbox here (instructor.sandbox.problem)?"""
    import shutil

    from instructor import sandbox

    problem = sandbox.problem()
    if problem is None:
        return True, f"bubblewrap works ({shutil.which('bwrap')})", ""
    sudo = "" if os.geteuid() == 0 else "sudo "
    if shutil.which("bwrap") is None:
        fix = f"{sudo}apt-get install bubblewrap"
    elif "setpriv" in problem:
        fix = f"{sudo}apt-get install util-linux"
    else:
        fix = f"{sudo}sysctl -w kernel.unprivileged_userns_clone=1"
    return False, problem.split(". ")[0], fix


# -- a PostgreSQL gradebook -------------------------------------------------------------------------

def check_gradebook(root: Path) -> Row:
    """Does the gradebook LAB_GRADEBOOK_URL names answer (only connects: no table is made)?"""
    from instructor.gradebook import URL_VARIABLE, describe, postgres_url

    url = postgres_url(os.environ.get(URL_VARIABLE, "").strip())
    if url.startswith("postgresql+psycopg") and importlib.util.find_spec("psycopg") is None:
        return False, "the psycopg driver is not installed", "python3 tasks.py setup --force"
    from sqlalchemy import create_engine, text

    fix = (f"fix {URL_VARIABLE} or the server's access (~/.pgpass), then {_venv_python(root)} -m instructor.gradebook; "
           f"or unset {URL_VARIABLE} to grade into SQLite")
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 5} if url.startswith("postgresql") else {})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as error:  # noqa: BLE001 (the driver's message says what failed: host, password, database)
        said = str(getattr(error, "orig", None) or error).strip().splitlines()
        return False, f"{URL_VARIABLE} does not connect: {said[0] if said else type(error).__name__}", fix
    return True, f"{describe(url)}: connects", ""


CHECKS = {"venv": check_venv, "mnist": check_mnist, "course": check_course, "sandbox": check_sandbox,
          "gradebook": check_gradebook}


def run(root: Path, parts: list[str]) -> dict[str, Row]:
    """Return {part: row} for ``parts``, checked side by side (the sandbox waits on its own process)."""
    def one(part: str) -> Row:
        try:
            return CHECKS[part](root)
        except Exception as error:  # noqa: BLE001 (a broken environment must still give its row)
            return False, f"the check failed: {type(error).__name__}: {error}", "python3 tasks.py setup --force"

    with ThreadPoolExecutor(max_workers=len(parts) or 1) as pool:
        return dict(zip(parts, pool.map(one, parts)))


def main(argv: list[str] | None = None) -> int:
    """Print the rows of the asked parts as one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m instructor.doctor")
    parser.add_argument("--root", type=Path, default=ROOT, help="the lab's folder (default: this checkout)")
    parser.add_argument("parts", nargs="*", choices=sorted(CHECKS), default=sorted(CHECKS))
    args = parser.parse_args(argv)
    print(json.dumps(run(args.root, args.parts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
