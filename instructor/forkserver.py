"""Grading kernels forked from a warm process, each sealed in a sandbox of its own.

Autograding starts one kernel per notebook. Most of a kernel's start is the same every time:
starting Python and importing IPython, ipykernel, NumPy, Matplotlib and the lab's helpers (about
a second of CPU here). A *zygote* process does that once per grading worker; each kernel is then
a ``fork()`` of it that starts ipykernel with its own connection file, folder and environment,
exactly as ``python -m ipykernel_launcher -f ...`` would.

With the sandbox on (the default, instructor/sandbox.py), the zygote runs inside bubblewrap and
every fork enters namespaces of its own before any student code runs: it sees a copy of its
student's folder and nothing of the course, has no network, no capabilities, its own processes
only, and resource limits; it cannot see or touch the zygote or any other kernel. The grader and
the kernel talk over Unix sockets in the kernel's own folder (ZeroMQ's ``ipc`` transport).

It plugs into jupyter_client's own extension point, the kernel provisioner: ``ForkingKernelManager``
gives nbclient a ``ForkingProvisioner`` whose process handle talks to the zygote. The zygote reaps
its children and writes each exit status to a file, so a kernel that dies is reported with the same
exit code or signal as a normally started one (the grading Execute puts it into words). Signals go
through the zygote too: a kernel's process id is only meaningful inside the sandbox.
"""
from __future__ import annotations

import atexit
import itertools
import multiprocessing.util
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from helpers.notebook import BLAS_THREADS

PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython.core.debugger",
           "IPython.core.oinspect", "IPython.extensions.storemagic", "sqlite3", "psutil", "tornado.queues",
           "numpy", "matplotlib", "matplotlib.pyplot", "helpers", "helpers.data", "helpers.mnist",
           "helpers.grading", "helpers.progress", "helpers.figures", "helpers.speed", "helpers.notebook", "pooch",
           "instructor.agent")
"""What every grading kernel imports anyway (found by comparing sys.modules of a started kernel)."""
# ipykernel sets this for every kernel; matplotlib reads it on import, so the zygote sets it first.
INLINE = "module://matplotlib_inline.backend_inline"
THREADS = dict.fromkeys(BLAS_THREADS, "1")  # one BLAS thread per kernel: N workers use N cores
SCRATCH = "CH8_GRADING_SCRATCH"  # where the workers' folders go (set by instructor/autograde.py)
START_S = 60  # seconds the zygote may take to import everything and say "ready"
ANSWER_S = 30  # seconds the zygote may take to answer one request


def _shared_root() -> Path:
    """Return a new private folder for one worker's kernels (in the temporary folder; removed with the zygote)."""
    from instructor.sandbox import scratch_base

    # the lab's runner gives its workers one folder for all of them, which it removes whatever happened to them
    folder = Path(tempfile.mkdtemp(prefix="ch8-grading-", dir=os.environ.get(SCRATCH) or scratch_base()))
    if os.geteuid() == 0:  # the sandbox runs as nobody: the folder is handed to it
        from instructor.sandbox import NOBODY

        os.chown(folder, NOBODY, NOBODY)
    return folder


def _hand_over(path: Path) -> None:
    """Give ``path`` (and what is below it) to the sandbox's user when the grader is root."""
    if os.geteuid() != 0:
        return
    from instructor.sandbox import NOBODY

    for item in [path, *path.rglob("*")]:
        os.chown(item, NOBODY, NOBODY, follow_symlinks=False)


class _Zygote:
    """The warm process of one grading worker (sandboxed or not), and the pipe to talk to it."""

    def __init__(self, sandbox: bool) -> None:
        self.sandbox = sandbox
        self.root = _shared_root()
        self.status_dir = self.root / "status"
        self.status_dir.mkdir()
        _hand_over(self.status_dir)
        self._count = itertools.count(1)
        env = {"MPLBACKEND": os.environ.get("MPLBACKEND", INLINE), **THREADS,
               # debugpy warns about frozen modules when imported outside a kernel; kernels silence it the same way
               "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        argv = [sys.executable, "-m", "instructor.forkserver", str(self.root), "sandbox" if sandbox else "plain"]
        if sandbox:
            from instructor.sandbox import KERNEL_ENV, command, mnist_env

            env.update({k: v for k, v in os.environ.items() if k in KERNEL_ENV and k not in env})
            env.update(mnist_env())
            env.update(PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin", HOME=str(self.root),
                       MPLCONFIGDIR="/tmp/matplotlib")
            argv = command(self.root, argv, env)
            env = None
        else:
            env = dict(os.environ, **env)
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
                                        bufsize=1)
        ready = self._answer(START_S)
        if ready != "ready":
            self.stop()
            raise RuntimeError(f"the kernel zygote did not start: {ready!r}")

    def _answer(self, seconds: float) -> str:
        """Return the zygote's next line, waiting at most ``seconds`` (a hung zygote is ended: the next kernel starts a new one)."""
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        if not ready:
            self.process.kill()
            raise RuntimeError(f"the kernel zygote did not answer within {seconds:.0f} s and was ended")
        return self.process.stdout.readline().strip()

    def _ask(self, request: dict) -> str:
        """Send one request line; return the answer line."""
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._answer(ANSWER_S)

    def kernel_dir(self) -> Path:
        """Return a new empty folder for one kernel (its connection file, sockets and home)."""
        folder = self.root / f"k{next(self._count)}"
        folder.mkdir(mode=0o700)
        return folder

    def fork(self, argv: list[str], env: dict[str, str], kernel_dir: Path, cwd: str, limits: dict) -> int:
        """Ask the zygote for a kernel running ``argv``'s arguments; return its process id (in the zygote's view)."""
        answer = self._ask({"op": "fork", "argv": argv, "env": env, "kernel_dir": str(kernel_dir), "cwd": cwd,
                            "limits": limits})
        if not answer.isdigit():
            raise RuntimeError(f"the kernel zygote could not fork: {answer!r}")
        return int(answer)

    def signal(self, pid: int, signum: int) -> None:
        """Have the zygote send ``signum`` to its kernel ``pid``."""
        if self.process.poll() is None:
            self._ask({"op": "signal", "pid": pid, "signal": int(signum)})

    def stop(self) -> None:
        """End the zygote (and with it, in the sandbox, every process it started); remove its folder."""
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


_ZYGOTES: dict[bool, _Zygote] = {}


def zygote(sandbox: bool) -> _Zygote:
    """Return this worker's zygote (sandboxed or not), starting it on first use (or again if it died)."""
    warm = _ZYGOTES.get(sandbox)
    if warm is None or warm.process.poll() is not None:
        if warm is not None:
            warm.stop()
        if not _ZYGOTES:
            # whether this process ends normally or as a worker of a multiprocessing pool: no folder left behind
            atexit.register(stop_zygotes)
            multiprocessing.util.Finalize(None, stop_zygotes, exitpriority=10)
        warm = _ZYGOTES[sandbox] = _Zygote(sandbox)
    return warm


def stop_zygotes() -> None:
    """Stop every zygote of this process (the grading worker is done)."""
    for warm in _ZYGOTES.values():
        warm.stop()
    _ZYGOTES.clear()


class ForkedProcess:
    """A Popen look-alike for a kernel forked by the zygote: poll, wait, signals, exit status."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, warm: _Zygote):
        self.pid, self.returncode, self._warm = pid, None, warm
        self._status = warm.status_dir / f"{pid}.exit"

    def poll(self) -> int | None:
        """Return the exit status (negative: killed by that signal) once the kernel has ended, else None."""
        if self.returncode is None and self._status.exists():
            self.returncode = int(self._status.read_text().split()[0])
        if self.returncode is None and self._warm.process.poll() is not None:
            self.returncode = -signal.SIGKILL  # the zygote ended, and its whole sandbox with it
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the kernel to end (up to ``timeout`` seconds); return its exit status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the kernel through the zygote, if it is still running."""
        if self.poll() is None:
            self._warm.signal(self.pid, signum)

    def kill(self) -> None:
        """End the kernel at once."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """Ask the kernel to end."""
        self.send_signal(signal.SIGTERM)


def _copy_folder(source: Path, target: Path, limit: int = 64 * 2 ** 20, most: int = 500) -> None:
    """Copy the regular files of ``source`` (a student's notebook folder) into ``target``, links left out.

    At most ``most`` files and ``limit`` bytes: a notebook folder holds a few files; a kernel needs no more.
    """
    target.mkdir(exist_ok=True)
    total = 0
    # the walk itself stops after most * 4 entries: sorting first would list a huge folder whole
    for path in sorted(itertools.islice(source.rglob("*"), most * 4)) if source.is_dir() else []:
        if path.is_symlink() or not path.is_file() or path.stat().st_size + total > limit:
            continue
        most -= 1
        if most < 0:
            break
        total += path.stat().st_size
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


class ForkingProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, except that the kernel is forked from the warm zygote."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        """Fork the kernel (same command-line arguments; in the sandbox, a copy of its folder and a clean environment)."""
        km = self.parent
        env = dict(kwargs.get("env") or os.environ)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        arguments = cmd[cmd.index("-f"):] if "-f" in cmd else cmd[1:]
        warm, kernel_dir = km.zygote, km.kernel_dir
        if warm.sandbox:
            from instructor.sandbox import KERNEL_ENV, mnist_env

            home = kernel_dir / "home"
            _copy_folder(Path(cwd), home)
            env = {key: value for key, value in env.items() if key in KERNEL_ENV}
            env.update(mnist_env())
            env.update(PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin", HOME=str(home), USER="student",
                       TMPDIR="/tmp", MPLCONFIGDIR="/tmp/matplotlib", **THREADS)
            cwd = str(home)
            _hand_over(kernel_dir)
        else:
            env["JPY_PARENT_PID"] = str(os.getpid())
        self.process = ForkedProcess(warm.fork(arguments, env, kernel_dir, cwd, km.limits), warm)
        self.pid, self.pgid = self.process.pid, None  # never a process group of the grader's own machine
        self.cwd = cwd
        return self.connection_info

    async def send_signal(self, signum: int) -> None:
        """Signal the kernel through the zygote (its process id means nothing outside the sandbox)."""
        if self.process is not None:
            self.process.send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        """End the kernel at once."""
        if self.process is not None:
            self.process.kill()

    async def terminate(self, restart: bool = False) -> None:
        """Ask the kernel to end."""
        if self.process is not None:
            self.process.terminate()

    async def cleanup(self, restart: bool = False) -> None:
        """Remove the kernel's folder once its process has ended."""
        await super().cleanup(restart)
        if self.process is not None and self.process.poll() is not None:
            shutil.rmtree(self.parent.kernel_dir, ignore_errors=True)


class ForkingKernelManager(AsyncKernelManager):
    """AsyncKernelManager whose kernels come from the zygote (python kernels only), over Unix sockets."""

    sandbox = True  # set by the grading Execute before the kernel starts
    limits: dict = {}

    async def _async_pre_start_kernel(self, **kw: Any):
        """Use the forking provisioner for a Python kernel, the usual one otherwise."""
        if self.provisioner is None and "ipykernel" in " ".join(self.kernel_spec.argv):
            self.zygote = zygote(self.sandbox)
            self.kernel_dir = self.zygote.kernel_dir()
            # ZeroMQ over Unix sockets in the kernel's own folder: the sandbox has no network at all
            self.transport, self.cache_ports = "ipc", False
            self.ip = str(self.kernel_dir / "kernel")
            self.connection_file = str(self.kernel_dir / "kernel.json")
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or os.urandom(16).hex()
            self.provisioner = ForkingProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)

    pre_start_kernel = _async_pre_start_kernel


# -- the zygote itself ----------------------------------------------------------------------------

def _reap(status_dir: Path) -> None:
    """Collect every ended child and write its exit status (negative: the signal) for the grader."""
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        # the exit status, then the kernel's CPU seconds (for measuring where grading time goes)
        (status_dir / f"{pid}.tmp").write_text(f"{code} {usage.ru_utime + usage.ru_stime:.3f}")
        os.replace(status_dir / f"{pid}.tmp", status_dir / f"{pid}.exit")


def _child(request: dict, sandboxed: bool) -> None:
    """In the forked child: become a fresh (sandboxed) kernel process and run ipykernel; never return."""
    code = 1
    try:
        os.setsid()  # its own session and process group, as jupyter_client starts kernels
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # stdout was the zygote's answer pipe; a kernel's own prints go nowhere, as usual
        if sandboxed:
            from instructor.sandbox import Limits, die_with_parent, enter_kernel_namespaces

            die_with_parent()
            # returns only in the kernel itself: process 1 of its own namespaces, limits applied
            enter_kernel_namespaces(request["kernel_dir"], Limits(**request["limits"]))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import numpy

        numpy.random.seed()  # a fresh process draws fresh entropy; a fork would share the zygote's
        random.seed()
        sys.argv = [sys.executable, *request["argv"]]
        from ipykernel.kernelapp import IPKernelApp

        IPKernelApp.launch_instance(argv=request["argv"])
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 0
    except BaseException as error:  # noqa: BLE001 (say why on the grader's log, then end)
        print(f"grading kernel could not start: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def serve(root: Path, sandboxed: bool) -> None:
    """Preload, say 'ready', then fork one kernel per request line until the grader goes away."""
    status_dir = root / "status"
    os.environ.setdefault("MPLBACKEND", INLINE)
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    if sandboxed:
        from instructor.sandbox import not_dumpable

        not_dumpable()  # no kernel may read or write this process's memory through /proc
    for name in PRELOAD:
        __import__(name)
    signal.signal(signal.SIGCHLD, lambda *_: _reap(status_dir))
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.5)
        _reap(status_dir)
        if not ready:
            continue
        line = sys.stdin.readline()
        if not line:
            break  # the grading worker ended
        request = json.loads(line)
        if request["op"] == "signal":
            try:
                os.kill(int(request["pid"]), int(request["signal"]))
            except ProcessLookupError:
                pass
            print("ok", flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            _child(request, sandboxed)
        print(pid, flush=True)
    # nobody reads the exit statuses any more: leave no folder behind
    shutil.rmtree(status_dir, ignore_errors=True)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.argv[2] == "sandbox")
