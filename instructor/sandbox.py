"""The grading sandbox: where a student's notebook runs while it is graded, and what it can reach.

Every grading worker starts one warm *zygote* process (instructor/forkserver.py) inside a
bubblewrap sandbox (``bwrap``, Debian's ``bubblewrap``), and every grading kernel is a fork of it
that enters namespaces of its own before any student code runs. What a kernel can reach:

  read only   the Python environment (the interpreter, the venv, the ``helpers`` and ``instructor``
              packages), the system's programs and libraries (/usr), MNIST (``MNIST_DIR`` and the
              cache of parsed arrays); nothing else of the machine is mounted at all: not the
              course folder (solutions/, the gradebook, other students' submissions and feedback),
              not the instructor's home, not /etc beyond the loader's cache
  writable    a copy of the student's own notebook folder (its home) and its own /tmp, both in
              memory and size-limited, gone with the kernel; its connection files
  network     none: its own network namespace with nothing in it (the kernel talks to the grader
              over Unix sockets in its own folder)
  processes   its own PID namespace: it sees only itself and what it starts, and everything it
              starts dies with it; it cannot name the zygote or any other student's kernel, and
              the zygote is not dumpable, so /proc gives no way into it either
  user        an unprivileged user with no capabilities: always a rootless sandbox (a user namespace
              of its own), run as ``nobody`` when the grader is root, else as the grader's own uid
  environment only the variables listed in ``KERNEL_ENV`` (no tokens, passwords or database URLs)
  limits      address space, CPU seconds, processes, file size (``Limits``)

``problem()`` says, in words, why the sandbox cannot start on this machine (or None).
"""
from __future__ import annotations

import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = ("Install bubblewrap, the sandbox that grading kernels run in: `sudo apt-get install bubblewrap` "
                "(Debian, Ubuntu), `sudo dnf install bubblewrap` (Fedora). Only for a setting where every "
                "submission is trusted: autograde with --no-sandbox.")
NOBODY = 65534
"""The unprivileged user that grading kernels run as when the grader itself is root."""

KERNEL_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "MPLBACKEND",
              "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYDEVD_DISABLE_FILE_VALIDATION",
              "MNIST_DIR", "MNIST_CACHE", "JPY_SESSION_NAME", "PYTHONHASHSEED", "NUMBA_CACHE_DIR",
              "LD_LIBRARY_PATH")
"""The only variables of the grader's environment a grading kernel gets (besides PATH, HOME, USER, TMPDIR)."""

STAGE = "/run/ch8-kernel"
"""An empty folder of the sandbox where a kernel's own folder is held while /tmp and /dev/shm are replaced."""
_SYSTEM = ("/usr", "/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/fonts")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one grading kernel (0: no limit)."""

    memory_mb: int = 4096
    cpu_seconds: int = 330
    processes: int = 256
    file_mb: int = 256
    home_mb: int = 256


def scratch_base() -> str | None:
    """Return where the grader's shared folders go: the temporary folder, or (as root) one ``nobody`` can walk to."""
    if os.geteuid() != 0:
        return None  # tempfile's own choice: TMPDIR, else /tmp
    for base in ("/dev/shm", "/tmp"):
        if Path(base).is_dir() and Path(base).stat().st_mode & 0o1777 == 0o1777:
            return base
    return None


def _package_dirs() -> list[Path]:
    """Return the folders of the lab's packages (an editable install keeps them in the checkout)."""
    import helpers
    import instructor

    return [Path(helpers.__file__).resolve().parent, Path(instructor.__file__).resolve().parent]


def mnist_env() -> dict[str, str]:
    """Return MNIST_DIR and MNIST_CACHE as the grader finds them, so a kernel (whose home is elsewhere) finds the same
    files and the cache of parsed arrays instead of parsing MNIST again."""
    from helpers.mnist import cache_dir

    found = {"MNIST_CACHE": str(cache_dir().resolve())}
    if os.environ.get("MNIST_DIR"):
        found["MNIST_DIR"] = str(Path(os.environ["MNIST_DIR"]).resolve())
    return found


def _mnist_dirs() -> list[Path]:
    """Return the folders MNIST is read from (MNIST_DIR, the cache of parsed arrays) that exist."""
    return [Path(folder) for folder in mnist_env().values() if Path(folder).is_dir()]


def _site_dirs() -> list[Path]:
    """Return the package folders Python reads outside its prefixes (a ``.pth`` may add another venv's).

    Only folders named like package folders: the script's own folder, first on ``sys.path``, can be
    a course folder with the solutions in it.
    """
    found = []
    for entry in sys.path[1:]:
        if entry and Path(entry).name in ("site-packages", "dist-packages") and Path(entry).is_dir():
            found.append(Path(entry).resolve())
    return found


def _library_dirs() -> list[Path]:
    """Return the existing folders of LD_LIBRARY_PATH (a relocated Python finds its libpython there)."""
    entries = os.environ.get("LD_LIBRARY_PATH", "").split(":")
    return [Path(e).resolve() for e in entries if e and Path(e).is_absolute() and Path(e).is_dir()]


def readonly_paths() -> list[Path]:
    """Return every host path the sandbox shows, read only, at the same place."""
    paths = [Path(p) for p in _SYSTEM if Path(p).exists()]
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        paths.append(Path(prefix).resolve())
    paths += _site_dirs() + _library_dirs()
    paths += _package_dirs() + _mnist_dirs()
    # nested paths (a venv inside the checkout next to helpers/) are bound once, by their outer folder
    unique = sorted(set(paths), key=lambda p: len(p.parts))
    return [p for i, p in enumerate(unique) if not any(q in p.parents for q in unique[:i])]


def _parents(paths: list[Path]) -> list[Path]:
    """Return every folder above ``paths`` that the sandbox must create, outermost first."""
    parents: set[Path] = set()
    for path in paths:
        parents.update(p for p in path.parents if p != Path("/"))
    return sorted(parents, key=lambda p: len(p.parts))


def command(writable: Path, argv: list[str], env: dict[str, str]) -> list[str]:
    """Return the command line that runs ``argv`` in the grading sandbox, ``writable`` its one shared folder.

    The sandbox is always a rootless one (bwrap in a user namespace of its own). Run by root, it is
    first handed to ``nobody``; because ``nobody`` may not walk into a private home such as /root,
    where Python itself may live, root first shows it each read-only folder through a bind mount of
    its own (in a mount namespace that only this command sees), under ``writable``/.shown.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise RuntimeError(INSTALL_HINT)
    shown = readonly_paths()
    args = [bwrap, "--unshare-user", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--clearenv", "--perms", "0755", "--tmpfs", "/",
            "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm",
            "--perms", "0755", "--dir", STAGE]
    # Debian and Ubuntu keep /bin, /lib, ... as links into /usr; older systems as folders.
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir() and top not in shown:
            shown.append(top)
    for folder in _parents(shown + [writable]):
        if folder not in shown and folder not in (Path("/tmp"), Path("/dev"), Path("/dev/shm")):
            args += ["--perms", "0755", "--dir", str(folder)]
    root = os.geteuid() == 0
    script = ['set -e', f'mkdir -p -m 0755 "{writable}/.shown"'] if root else []
    for number, path in enumerate(shown):
        source = path
        if root:
            source = writable / ".shown" / str(number)
            make = f'mkdir -m 0755 "{source}"' if path.is_dir() else f': > "{source}"'
            script += [make, f'mount --bind "{path}" "{source}"',
                       f'mount -o remount,bind,ro "{source}"']
        args += ["--ro-bind", str(source), str(path)]
    args += ["--bind", str(writable), str(writable), "--proc", "/proc", "--remount-ro", "/"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--", *argv]
    if not root:
        return args
    setpriv = [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
               "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
    script.append('exec "$@"')
    return [shutil.which("unshare") or "/usr/bin/unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", "\n".join(script), "sandbox", *setpriv, *args]


def start(writable: Path, argv: list[str], env: dict[str, str], **popen: object) -> subprocess.Popen:
    """Start ``argv`` in the grading sandbox (``writable`` its one shared folder); return the process."""
    return subprocess.Popen(command(writable, argv, env), **popen)


_PROBE = """
import os, sys
from instructor.sandbox import enter_kernel_namespaces, Limits
pid = os.fork()
if pid == 0:
    try:
        os.mkdir(sys.argv[1] + "/k")
        enter_kernel_namespaces(sys.argv[1] + "/k", Limits())
        import socket
        try:
            socket.create_connection(("127.0.0.1", 9), timeout=1)
            os._exit(3)
        except OSError:
            os._exit(0)
    except BaseException as error:
        print(type(error).__name__, error, flush=True)
        os._exit(4)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@functools.lru_cache(maxsize=1)
def problem() -> str | None:
    """Return why grading kernels cannot be sandboxed on this machine, in words, or None when they can."""
    if sys.platform != "linux":
        return f"The grading sandbox needs Linux (this is {sys.platform}). {INSTALL_HINT}"
    if shutil.which("bwrap") is None:
        return f"bwrap was not found on PATH. {INSTALL_HINT}"
    if os.geteuid() == 0 and not (shutil.which("setpriv") or Path("/usr/bin/setpriv").exists()):
        return "setpriv (util-linux) was not found: as root, the sandbox needs it to drop to an unprivileged user."
    folder = Path(tempfile.mkdtemp(prefix="ch8-sandbox-check-", dir=scratch_base()))
    try:
        folder.chmod(0o777)  # the sandbox's user may be nobody
        if os.geteuid() == 0:
            os.chown(folder, NOBODY, NOBODY)
        env = {"PATH": "/usr/bin:/bin"}
        if "LD_LIBRARY_PATH" in os.environ:  # a relocated Python finds its libpython there
            env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
        process = start(folder, [sys.executable, "-c", _PROBE, str(folder)], env,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        said, _ = process.communicate(timeout=60)
        run = subprocess.CompletedProcess(process.args, process.returncode, said, "")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
        return f"The grading sandbox could not start: {error}. {INSTALL_HINT}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if run.returncode == 0:
        return None
    said = " ".join((run.stdout + run.stderr).split())[-300:]
    if run.returncode == 3:
        return "The grading sandbox started but its kernels could reach the network; grading stops here."
    return (f"The grading sandbox could not start (bwrap exit code {run.returncode}: {said or 'no message'}). "
            "It needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on Debian, "
            f"user.max_user_namespaces > 0). {INSTALL_HINT}")


# -- inside the sandbox: one kernel's own namespaces ---------------------------------------------

_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x1, 0x2, 0x4, 0x1000, 0x4000, 0x40000
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP = 1, 4, 38, 24


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    """Return the C library, with errno kept for error messages."""
    return ctypes.CDLL(None, use_errno=True)


def _ok(result: int, what: str) -> None:
    """Raise OSError naming ``what`` if a C call returned -1."""
    if result == -1:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def _mount(source: str, target: str, kind: str | None, flags: int, options: str | None) -> None:
    """mount(2), raising OSError on failure."""
    _ok(_libc().mount(source.encode(), target.encode(), kind.encode() if kind else None, flags,
                      options.encode() if options else None), f"mount {kind or source} on {target}")


def not_dumpable() -> None:
    """Make this process (and its forks) not dumpable: no same-user process can read or write its memory via /proc."""
    _ok(_libc().prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``signum`` to this process when its parent ends."""
    _ok(_libc().prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")


def _drop_capabilities() -> None:
    """Drop every capability (bounding set, effective, permitted, inheritable) and forbid gaining new ones."""
    libc = _libc()
    for cap in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 and ctypes.get_errno() == 22:
            break  # EINVAL: past the last capability this kernel knows
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # two (effective, permitted, inheritable) sets, all zero
    _ok(libc.capset(header, data), "capset")
    _ok(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def _set_limits(limits: Limits) -> None:
    """Apply ``limits`` to this process and everything it starts."""
    import resource

    def cap(kind: int, value: int) -> None:
        if value > 0:
            resource.setrlimit(kind, (value, value))

    cap(resource.RLIMIT_AS, limits.memory_mb * 2 ** 20)
    if limits.cpu_seconds > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    cap(resource.RLIMIT_NPROC, limits.processes)
    cap(resource.RLIMIT_FSIZE, limits.file_mb * 2 ** 20)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _read_tree(folder: Path, limit: int = 64 * 2 ** 20) -> dict[str, bytes]:
    """Return the regular files under ``folder`` (relative name -> bytes), links skipped, at most ``limit`` bytes."""
    files, total = {}, 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        if total + size > limit:
            continue
        files[str(path.relative_to(folder))] = path.read_bytes()
        total += size
    return files


def _readonly_under_shared() -> list[str]:
    """Return this sandbox's read-only mounts under /tmp or /dev/shm (outermost only), from its mount table.

    (Read from /proc rather than from ``readonly_paths()``: working that out imports NumPy, which a
    process about to become a kernel must not start threads for.)
    """
    found: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")  # spaces and the like are escaped as \040
        readonly = "ro" in fields[5].split(",")
        if readonly and any(point.startswith(top + "/") for top in ("/tmp", "/dev/shm")) and Path(point).is_dir():
            found.append(point)
    found.sort(key=lambda p: p.count("/"))
    return [p for i, p in enumerate(found) if not any(p.startswith(q + "/") for q in found[:i])]


def enter_kernel_namespaces(kernel_dir: str, limits: Limits) -> None:
    """Turn this freshly forked, single-threaded process into one sandboxed kernel's own world.

    Creates a user, mount, PID, network, IPC and UTS namespace; gives ``kernel_dir``/home a
    size-limited copy of what the grader put there; a fresh /tmp and /dev/shm; hides the grader's
    folder of all kernels (the parent of ``kernel_dir``) but its own; then forks twice: process 1 of the new PID namespace, and below it
    the kernel, which returns (with no capabilities and ``limits`` applied). The two above it wait,
    pass on the signals they receive, and end the way the kernel ended; when process 1 ends, the
    operating system ends everything else in the namespace: nothing the kernel starts outlives it.
    """
    uid, gid = os.getuid(), os.getgid()
    home = Path(kernel_dir) / "home"
    files = _read_tree(home) if home.is_dir() else {}
    # A process that is not dumpable may not write its own user namespace's maps: dumpable for the
    # moment it takes, before any student code exists, then never again.
    _ok(_libc().prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    _ok(_libc().unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS),
        "unshare")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    not_dumpable()
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)
    # The kernel's own folder is held aside while /tmp, /dev/shm and the grader's folder of all
    # kernels (its parent) become fresh, empty and private; then it alone comes back at its place.
    _mount(kernel_dir, STAGE, None, _MS_BIND | _MS_REC, None)
    # The read-only folders the sandbox shows under /tmp or /dev/shm (a Python copied there, as the
    # class hub's test does) are held open across the fresh mounts and come back at their place.
    kept = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in _readonly_under_shared()]
    for shared in ("/tmp", "/dev/shm"):
        _mount("tmpfs", shared, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={limits.home_mb}m,mode=1777")
    for path, held in kept:
        Path(path).mkdir(parents=True, exist_ok=True)
        _mount(f"/proc/self/fd/{held}", path, None, _MS_BIND | _MS_REC, None)  # a bind keeps the source's read-only flag
        os.close(held)
    parent = Path(kernel_dir).parent
    if parent.is_dir():
        _mount("tmpfs", str(parent), "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    Path(kernel_dir).mkdir(parents=True, exist_ok=True)
    _mount(STAGE, kernel_dir, None, _MS_BIND | _MS_REC, None)
    home.mkdir(exist_ok=True)
    _mount("tmpfs", str(home), "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={limits.home_mb}m,mode=0700")
    for name, data in files.items():
        target = home / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    # Process 1 of a PID namespace cannot be ended by a signal from inside it, not even its own, so it
    # cannot end "the way the kernel ended": it writes that down in a pipe for the process above.
    told, tell = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(told)
        die_with_parent()
        # process 1 of the new PID namespace: a /proc that shows this namespace only
        _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | 0x8, None)  # 0x8: MS_NOEXEC
        kernel = os.fork()
        if kernel == 0:
            # the kernel itself, an ordinary process
            os.close(tell)
            die_with_parent()
            _set_limits(limits)
            _drop_capabilities()
            os.chdir(home)
            return
        _relay(kernel, tell=tell)  # when the kernel ends, process 1 ends, and with it all the kernel started
    os.close(tell)
    _relay(child, told=told)


def _relay(child: int, tell: int | None = None, told: int | None = None) -> None:
    """Wait for ``child``, passing on interrupts and stops; then end as it ended (or as ``told``). Never returns.

    ``tell``: write how the child ended there instead of ending that way (for process 1).
    ``told``: read from there how the process below really ended.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, lambda number, _frame: os.kill(child, number))
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    if told is not None:
        said = os.read(told, 32).decode(errors="replace").strip()
        code = int(said) if said.lstrip("-").isdigit() else code
    if tell is not None:
        os.write(tell, str(code).encode())
        os._exit(0)
    if code < 0:
        number = -code
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [number])
        os.kill(os.getpid(), number)
    os._exit(code if 0 <= code < 256 else 1)
