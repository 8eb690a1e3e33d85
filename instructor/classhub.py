"""A class on the lab's JupyterHub (hub/jupyterhub_config.py) on this machine: accounts, course, exchange, hub.

`python3 tasks.py hub` uses it for a try-out on localhost and tests/test_hub.py for the round
trip. Linux and root only: every class member is a system user, so that nbgrader's exchange
tells students apart by their OS user name and file permissions keep their work apart.

    klass = create_class(folder, "ch8-", students=["student1", "student2"], mnist_dir=mnist)
    env = hub_environment(klass, "http://127.0.0.1:8000", mnist)
    proxy = start_proxy(env, log)  # the proxy runs on its own, as the hub's configuration wants
    process = start_hub(klass, env, log)
    ...
    stop_hub(process)  # the servers go on running (a restarted hub finds them)
    stop_proxy(proxy)
    remove_class(klass)  # stops whatever the class members still run
"""
from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from instructor import hublimits

ROOT = Path(__file__).resolve().parent.parent
HUB_CONFIG = ROOT / "hub" / "jupyterhub_config.py"
COURSE_ID = "grokking-ch8"
HUB_CGROUP = f"jupyterhub-{COURSE_ID}"  # hub/jupyterhub_config.py's LimitedSpawner.cgroup_parent
MARK = "grokking-ch8 class hub"  # in the comment (GECOS) field of every account made here
TOOLS = {"useradd": "passwd", "userdel": "passwd", "groupadd": "passwd", "groupdel": "passwd", "chpasswd": "passwd"}


@dataclass
class Class:
    """The accounts and folders of one class on this machine."""

    folder: Path  # holds the homes, the exchange, the grader's course folder, the hub's state
    grader: str
    instructors: list[str]
    students: list[str]
    groups: dict[str, str]  # "students" / "instructors" -> Unix group
    passwords: dict[str, str] = field(default_factory=dict)
    bin: Path = Path(sys.executable).parent  # the lab's environment, as every member can run it
    env: dict[str, str] = field(default_factory=dict)  # what that environment needs besides

    @property
    def people(self) -> list[str]:
        """Return every account of the class, the grader account included."""
        return [self.grader, *self.instructors, *self.students]

    @property
    def exchange(self) -> Path:
        """Return nbgrader's exchange root of the class."""
        return self.folder / "exchange"

    @property
    def course(self) -> Path:
        """Return the grader's course folder (solutions, gradebook): private to the grader account."""
        return self.folder / "course"

    def home(self, name: str) -> Path:
        """Return the home folder of class member ``name``."""
        return self.folder / "home" / name


def missing_prerequisites() -> list[str]:
    """Return what this machine lacks for a class hub, each with the command that fixes it."""
    problems = []
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        problems.append("run as root on Linux: the class members are system users, made and removed here")
    if shutil.which("configurable-http-proxy") is None:
        problems.append("configurable-http-proxy (JupyterHub's proxy) is not on PATH: "
                        "npm install -g configurable-http-proxy")
    problems += [f"{tool} is missing: apt-get install {package}" for tool, package in TOOLS.items()
                 if shutil.which(tool) is None]
    return problems


def unreachable_for_others(path: Path) -> Path | None:
    """Return the first folder on the way to ``path`` that other users cannot enter, or None."""
    for folder in [*reversed(path.parents), path]:
        if folder.is_dir() and not folder.stat().st_mode & stat.S_IXOTH:
            return folder
    return None


def shared_mnist() -> Path | None:
    """Return the MNIST folder a class shares (MNIST_DIR), or None when it is not set up."""
    folder = os.environ.get("MNIST_DIR", "")
    return Path(folder) if folder and Path(folder, "train-images-idx3-ubyte.gz").is_file() else None


def missing_for_the_lab(mnist_dir: Path | None) -> list[str]:
    """Return what a class hub running this lab lacks here: missing_prerequisites(), MNIST, and the
    folders every class member's server reads (this checkout, this Python, MNIST) being open to them."""
    problems = missing_prerequisites()
    if mnist_dir is None:
        problems.append("set MNIST_DIR to a folder with the four MNIST files")
    for needed in (ROOT, Path(sys.executable).parent, mnist_dir):
        blocked = needed and unreachable_for_others(needed)
        if blocked:
            problems.append(f"every class member's server reads {needed}, but other users cannot enter "
                            f"{blocked}: chmod o+x {blocked}, or put it where everyone can read it")
    return problems


def _interpreter_files() -> list[Path]:
    """Return the files of this Python that every server needs: its standard library and libpython."""
    files = [Path(sysconfig.get_path("stdlib"))]
    library = sysconfig.get_config_var("LDLIBRARY")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and library:
        files.append(Path(sysconfig.get_config_var("LIBDIR")) / library)
    return files


def private_interpreter() -> Path | None:
    """Return a folder of this Python's installation that other users cannot enter, or None."""
    for path in _interpreter_files():
        blocked = unreachable_for_others(path)
        if blocked:
            return blocked
    return None


def shareable_environment(folder: Path) -> tuple[Path, dict[str, str]]:
    """Return (bin folder, extra environment) of this environment as every user can run it.

    Usually that is this environment itself. A Python installed where other users cannot read it
    (pyenv under /root, say) is copied into ``folder`` (standard library and libpython, no
    packages), and a virtual environment made from the copy reads this one's packages, with
    copies of its commands: the same interpreter and the same packages, readable by all.
    """
    here = Path(sys.executable).parent
    if private_interpreter() is None:
        return here, {}
    python = _copy_interpreter(folder / "python")
    extra = {"LD_LIBRARY_PATH": str(python / "lib")}
    env = folder / "env"
    subprocess.run([str(python / "bin" / _VERSION), "-m", "venv", "--without-pip", str(env)],
                   env={**os.environ, **extra}, check=True, timeout=120)
    for data in ("share", "etc"):  # Jupyter's data and config (extensions, templates, kernels) live there
        if (Path(sys.prefix) / data).is_dir():
            (env / data).symlink_to(Path(sys.prefix) / data, target_is_directory=True)
    (env / "lib" / _VERSION / "site-packages" / "_lab_packages.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n")
    _copy_commands(here, env / "bin")
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
    return env / "bin", extra


_VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _copy_interpreter(dest: Path) -> Path:
    """Copy this Python's executable, libpython and standard library (no packages) to ``dest``; return it."""
    shutil.copytree(Path(sysconfig.get_path("stdlib")), dest / "lib" / _VERSION, symlinks=True,
                    ignore=shutil.ignore_patterns("site-packages", "test", "__pycache__", "idlelib", "tkinter"))
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(Path(sys.base_prefix) / "bin" / _VERSION, dest / "bin" / _VERSION)
    for library in _interpreter_files()[1:]:
        for match in library.parent.glob(library.name + "*"):
            shutil.copy2(match, dest / "lib" / match.name)
    return dest


def _copy_commands(source: Path, dest: Path) -> None:
    """Copy the Python commands of ``source`` (jupyterhub, nbgrader, ...) to ``dest``, run by dest's Python."""
    shebang = re.compile(rb"^#!" + re.escape(str(source).encode()) + rb"/python[0-9.]*\s*$", re.M)
    for script in source.iterdir():
        if script.is_file() and not (dest / script.name).exists():
            text = script.read_bytes()
            if shebang.match(text):
                (dest / script.name).write_bytes(shebang.sub(f"#!{dest}/python".encode(), text, count=1))
                (dest / script.name).chmod(0o755)


def _run(*args: str, stdin: str | None = None) -> None:
    """Run a system administration command; raise with its message if it fails."""
    done = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} ... failed: {done.stderr.strip()}")


def create_class(folder: Path, tag: str, students: list[str], instructors: tuple[str, ...] = ("instructor",),
                 mnist_dir: Path | None = None) -> Class:
    """Make the accounts (named ``tag`` + name), the exchange, the grader's course and MNIST's cache in ``folder``.

    A step that fails removes what the earlier ones made, then raises.
    """
    klass = Class(folder=folder, grader=f"{tag}grader", instructors=[tag + n for n in instructors],
                  students=[tag + n for n in students],
                  groups={"students": f"{tag}students", "instructors": f"{tag}instructors"})
    try:
        _make_class(klass, tag, mnist_dir)
    except BaseException:
        remove_class(klass)
        raise
    return klass


def _make_class(klass: Class, tag: str, mnist_dir: Path | None) -> None:
    """Make the accounts, the exchange, the course, MNIST's cache and the shareable environment of ``klass``."""
    folder = klass.folder
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # the homes and the exchange live below it
    (folder / "home").mkdir(mode=0o755, exist_ok=True)
    for group in klass.groups.values():
        _run("groupadd", group)
    for name in klass.people:
        group = (klass.groups["students"] if name in klass.students
                 else klass.groups["instructors"] if name in klass.instructors else None)
        _run("useradd", "--create-home", "--home-dir", str(klass.home(name)), "--shell", "/bin/bash",
             "--comment", f"{MARK} {tag} pid {os.getpid()}", *(["--groups", group] if group else []), name)
        klass.home(name).chmod(0o700)
        klass.passwords[name] = secrets.token_urlsafe(12)
    _run("chpasswd", stdin="".join(f"{name}:{password}\n" for name, password in klass.passwords.items()))

    klass.exchange.mkdir()
    klass.exchange.chmod(0o777)  # as nbgrader wants it: everyone drops files in, nobody lists others'
    klass.course.mkdir(mode=0o700)  # solutions, hidden tests and the gradebook: the grader's only
    for name in ("solutions", "notebooks"):
        shutil.copytree(ROOT / name, klass.course / name)
    shutil.copy2(ROOT / "nbgrader_config.py", klass.course)
    _run("chown", "-R", f"{klass.grader}:{klass.grader}", str(klass.course))
    _prepare_mnist(folder / "mnist-cache", mnist_dir)
    klass.bin, klass.env = shareable_environment(folder / "lab-env")


def _prepare_mnist(cache: Path, mnist_dir: Path | None) -> None:
    """Parse MNIST once into ``cache``, readable by all, so that no student downloads or parses it."""
    env = {**os.environ, "MNIST_CACHE": str(cache)}
    if mnist_dir is not None:
        env["MNIST_DIR"] = str(mnist_dir)
    subprocess.run([sys.executable, "-c", "from helpers.mnist import load_data; load_data()"],
                   env=env, check=True, timeout=600)
    for path in [cache, *cache.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hub_environment(klass: Class, url: str, mnist_dir: Path, ports: dict[str, int] | None = None) -> dict[str, str]:
    """Return the hub's environment for ``klass``: hub/jupyterhub_config.py's settings, on loopback."""
    ports = ports or {name: free_port() for name in ("API", "PROXY_API", "SERVICE")}
    env = {**os.environ,
           "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(32),
           "CH8_COURSE_ID": COURSE_ID, "CH8_EXCHANGE": str(klass.exchange),
           "CH8_HUB_COURSE_DIR": str(klass.course), "CH8_HUB_GRADER": klass.grader,
           "CH8_HUB_STUDENTS": klass.groups["students"], "CH8_HUB_INSTRUCTORS": klass.groups["instructors"],
           "CH8_HUB_STATE": str(klass.folder / "state"), "CH8_HUB_BIND_URL": url,
           "MNIST_DIR": str(mnist_dir), "MNIST_CACHE": str(klass.folder / "mnist-cache"),
           **{f"CH8_HUB_{name}_PORT": str(port) for name, port in ports.items()}}
    env.pop("JUPYTER_CONFIG_PATH", None)  # the hub sets it per server
    return env


def proxy_command(env: dict[str, str]) -> list[str]:
    """Return configurable-http-proxy's command line for the hub ``env`` configures (a systemd unit runs the same)."""
    public = urlsplit(env.get("CH8_HUB_BIND_URL", "http://:8000"))
    hub_api = f"http://127.0.0.1:{env.get('CH8_HUB_API_PORT', '8081')}"
    return ["configurable-http-proxy", "--ip", public.hostname or "", "--port", str(public.port or 8000),
            "--api-ip", "127.0.0.1", "--api-port", env.get("CH8_HUB_PROXY_API_PORT", "8001"),
            # Until the hub has put its routes back (a restarted proxy starts empty), send everything to the hub.
            "--default-target", hub_api, "--error-target", f"{hub_api}/hub/error"]


def start_proxy(env: dict[str, str], log: Path, timeout: float = 30) -> subprocess.Popen:
    """Start the hub's proxy, its output in ``log``; return the process once its API answers."""
    with open(log, "ab") as out:
        process = subprocess.Popen(proxy_command(env), env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    port = int(env.get("CH8_HUB_PROXY_API_PORT", "8001"))
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return process
        time.sleep(0.2)
    stop_proxy(process)
    raise RuntimeError(f"configurable-http-proxy did not answer on 127.0.0.1:{port} within {timeout:.0f} s; "
                       f"its output is in {log}")


def stop_proxy(process: subprocess.Popen, timeout: float = 10) -> None:
    """Stop the proxy (forcefully after ``timeout`` s)."""
    _stop(process, timeout)


def start_hub(klass: Class, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start JupyterHub for ``klass`` with the lab's configuration, its output in ``log``; return the process.

    Its proxy must be running (start_proxy): the hub checks that it can reach it before anything else.
    """
    state = klass.folder / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen([str(klass.bin / "jupyterhub"), "-f", str(HUB_CONFIG)], cwd=state,
                                env={**env, **klass.env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_hub(process: subprocess.Popen, timeout: float = 30) -> None:
    """Stop the hub and its services (formgrader, culler), forcefully after ``timeout`` s; the servers go on."""
    _stop(process, timeout)


def _stop(process: subprocess.Popen, timeout: float) -> None:
    """Send SIGTERM to a process started in a session of its own, SIGKILL after ``timeout`` s; wait for it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)


def _processes_of(uid: int) -> list[int]:
    """Return the ids of the processes running as ``uid`` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                pids.append(int(entry.name))
    return pids


def server_pid(name: str) -> int | None:
    """Return the process id of ``name``'s Jupyter server on this machine (by its command line), or None."""
    uid = pwd.getpwnam(name).pw_uid
    for pid in _processes_of(uid):
        with contextlib.suppress(OSError):
            if b"jupyterhub-singleuser" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None


def remove_account(name: str) -> None:
    """Stop whatever account ``name`` still runs, then delete it and its home."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for pid in _processes_of(uid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    subprocess.run(["userdel", "--remove", "--force", name], capture_output=True, timeout=60)


def remove_class(klass: Class) -> None:
    """Delete the class's accounts (stopping their servers and kernels), cgroups, groups and folder."""
    for name in klass.people:
        remove_account(name)
    hublimits.remove_groups(HUB_CGROUP, klass.people)
    for group in klass.groups.values():
        subprocess.run(["groupdel", group], capture_output=True, timeout=60)
    shutil.rmtree(klass.folder, ignore_errors=True)


def remove_stale_classes(prefix: str) -> None:
    """Remove the accounts and groups of classes tagged ``prefix``... whose maker no longer runs (a killed test)."""
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(prefix) and entry.pw_gecos.startswith(MARK):
            tag, _, pid = entry.pw_gecos[len(MARK):].split()
            if not Path(f"/proc/{pid}").exists():
                remove_account(entry.pw_name)
                hublimits.remove_groups(HUB_CGROUP, [entry.pw_name])
                for group in (f"{tag}students", f"{tag}instructors"):
                    subprocess.run(["groupdel", group], capture_output=True, timeout=60)


def _wait_for_hub(url: str, process: subprocess.Popen, timeout: float = 120) -> bool:
    """Return True once the hub answers at ``url``, False if it exits or ``timeout`` s pass."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/hub/api/", timeout=5) as response:
                if response.status == 200:
                    return True
        time.sleep(1)
    return False


def _interrupt(signum: int, frame) -> None:
    """Turn the first stop signal into the KeyboardInterrupt that Ctrl-C gives, so that clean-up runs; ignore later ones."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # a second one (tasks.py passes each on) would cut the clean-up short
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise KeyboardInterrupt


def tryout(port: int = 8000, students: int = 2) -> int:
    """Run a try-out class on http://127.0.0.1:PORT until Ctrl-C, then remove it; return the exit code."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # a closed terminal or `kill` must not leave the accounts behind
        signal.signal(getattr(signal, name), _interrupt)
    problems = missing_prerequisites()
    folder = ROOT / "course" / "hub-tryout"  # git-ignored, like all of course/
    blocked = unreachable_for_others(ROOT)
    if blocked:
        problems.append(f"the class members' servers read this checkout, but other users cannot enter {blocked}: "
                        f"chmod o+x {blocked}, or clone the lab where everyone can read it (e.g. /opt)")
    if problems:
        print("The class hub try-out needs:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    remove_stale_classes("ch8-")
    mnist = Path(os.environ["MNIST_DIR"]) if os.environ.get("MNIST_DIR") else folder / "mnist"
    if not os.environ.get("MNIST_DIR"):
        from helpers.mnist import download

        folder.mkdir(parents=True, exist_ok=True)
        download(mnist)  # once, for the whole class: students never download
    names = [f"student{i}" for i in range(1, students + 1)]
    print("Making the try-out class (system accounts ch8-*) ...", flush=True)
    klass = create_class(folder / "class", "ch8-", students=names, mnist_dir=mnist)
    url = f"http://127.0.0.1:{port}"
    log = folder / "class" / "hub.log"
    env = hub_environment(klass, url, mnist)
    proxy = process = None
    try:
        proxy = start_proxy(env, log)
        process = start_hub(klass, env, log)
        if not _wait_for_hub(url, process):
            print(f"The hub did not start; its log: {log}", file=sys.stderr)
            print(log.read_text()[-3000:], file=sys.stderr)
            return 1
        print(f"\nThe class hub runs at {url}  (its log: {log})\n")
        for name in klass.instructors + klass.students:
            print(f"  {name:16} password {klass.passwords[name]}")
        print(f"\nInstructor: open {url}/services/{COURSE_ID}/formgrader, Generate, then Release ch8.\n"
              "Students (another browser or a private window): log in, Nbgrader > Assignment List, Fetch,\n"
              "work, Validate, Submit. Instructor: Collect, Autograde, Generate and Release feedback.\n"
              "Ctrl-C stops the hub and deletes the try-out accounts and their files.", flush=True)
        process.wait()
        return process.returncode or 0
    except KeyboardInterrupt:
        return 0
    finally:
        if process is not None:
            stop_hub(process)
        if proxy is not None:
            stop_proxy(proxy)
        remove_class(klass)
        print("The try-out class is gone (accounts, homes, exchange, gradebook).")


def main(argv: list[str] | None = None) -> int:
    """Return the exit code of `python -m instructor.classhub [--port N] [--students N]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python3 tasks.py hub",
                                     description="Try the class hub on this machine (root): demo accounts, "
                                                 "JupyterHub on 127.0.0.1, removed again by Ctrl-C.")
    parser.add_argument("--port", type=int, default=8000, help="where the hub listens on 127.0.0.1 (default 8000)")
    parser.add_argument("--students", type=int, default=2, help="how many student accounts (default 2)")
    args = parser.parse_args(argv)
    return tryout(args.port, args.students)


if __name__ == "__main__":
    sys.exit(main())
