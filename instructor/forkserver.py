"""Grading kernels forked from a warm process, so that no notebook pays Python's start-up again.

Autograding starts one kernel per notebook: four per submission. Most of a kernel's start is the
same every time: starting Python and importing IPython, ipykernel, NumPy, Matplotlib and the
lab's helpers (about a second of CPU here). A *zygote* process does that once per grading worker;
each kernel is then a ``fork()`` of it that starts ipykernel with its own connection file, working
folder and environment, exactly as ``python -m ipykernel_launcher -f ...`` would.

It plugs into jupyter_client's own extension point, the kernel provisioner: ``ForkingKernelManager``
gives nbclient a ``ForkingProvisioner`` whose process handle talks to the zygote. The zygote reaps
its children and writes each exit status to a file, so a kernel that dies is reported with the same
exit code or signal as a normally started one (the grading Execute puts it into words).

Only used for autograding (``GradingExecute.fork_kernels``); a kernel started by hand is unchanged.
The zygote preloads nothing that starts threads, and its BLAS runs with one thread.
"""
from __future__ import annotations

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

PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython.core.debugger",
           "IPython.core.oinspect", "IPython.extensions.storemagic", "sqlite3", "psutil", "tornado.queues",
           "numpy", "matplotlib", "matplotlib.pyplot", "helpers", "helpers.data", "helpers.mnist",
           "helpers.grading", "helpers.progress", "helpers.figures", "helpers.speed", "pooch")
"""What every grading kernel imports anyway (found by comparing sys.modules of a started kernel)."""
# ipykernel sets this for every kernel; matplotlib reads it on import, so the zygote sets it first.
INLINE = "module://matplotlib_inline.backend_inline"


class _Zygote:
    """The warm process of one grading worker, and the pipe to talk to it."""

    def __init__(self) -> None:
        self.status_dir = Path(tempfile.mkdtemp(prefix="ch8-zygote-"))
        env = dict(os.environ, MPLBACKEND=os.environ.get("MPLBACKEND", INLINE))
        # one BLAS thread: nothing in the zygote may run a thread when it forks, and grading kernels
        # side by side should not each spread over every core anyway
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.process = subprocess.Popen([sys.executable, "-m", "instructor.forkserver", str(self.status_dir)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
                                        bufsize=1)
        ready = self.process.stdout.readline()
        if ready.strip() != "ready":
            raise RuntimeError(f"the kernel zygote did not start: {ready!r}")

    def fork(self, argv: list[str], env: dict[str, str], cwd: str) -> int:
        """Ask the zygote for a kernel running ``argv``'s arguments; return its process id."""
        self.process.stdin.write(json.dumps({"argv": argv, "env": env, "cwd": cwd}) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer.strip().isdigit():
            raise RuntimeError(f"the kernel zygote could not fork: {answer!r}")
        return int(answer)


_ZYGOTE: _Zygote | None = None


def zygote() -> _Zygote:
    """Return this worker's zygote, starting it on first use (or again if it died)."""
    global _ZYGOTE
    if _ZYGOTE is None or _ZYGOTE.process.poll() is not None:
        _ZYGOTE = _Zygote()
    return _ZYGOTE


class ForkedProcess:
    """A Popen look-alike for a kernel forked by the zygote: poll, wait, signals, exit status."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, status_dir: Path):
        self.pid, self.returncode, self._status = pid, None, status_dir / f"{pid}.exit"

    def poll(self) -> int | None:
        """Return the exit status (negative: killed by that signal) once the kernel has ended, else None."""
        if self.returncode is None and self._status.exists():
            self.returncode = int(self._status.read_text().split()[0])
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
        """Send ``signum`` to the kernel, if it is still running."""
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """End the kernel at once."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """Ask the kernel to end."""
        self.send_signal(signal.SIGTERM)


class ForkingProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, except that the kernel is forked from the warm zygote."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        """Fork the kernel (same command-line arguments, environment and folder as a normal launch)."""
        env = dict(kwargs.get("env") or os.environ)
        env["JPY_PARENT_PID"] = str(os.getpid())
        cwd = str(kwargs.get("cwd") or os.getcwd())
        arguments = cmd[cmd.index("-f"):] if "-f" in cmd else cmd[1:]
        warm = zygote()
        self.process = ForkedProcess(warm.fork(arguments, env, cwd), warm.status_dir)
        self.pid = self.pgid = self.process.pid  # the kernel leads a session of its own, as normally
        self.cwd = cwd
        return self.connection_info


class ForkingKernelManager(AsyncKernelManager):
    """AsyncKernelManager whose kernels come from the zygote (python kernels only)."""

    async def _async_pre_start_kernel(self, **kw: Any):
        """Use the forking provisioner for a Python kernel, the usual one otherwise."""
        if self.provisioner is None and "ipykernel" in " ".join(self.kernel_spec.argv):
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


def _child(request: dict) -> None:
    """In the forked child: become a fresh kernel process and run ipykernel; never return."""
    code = 1
    try:
        os.setsid()  # its own session and process group, as jupyter_client starts kernels
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # stdout was the zygote's answer pipe; a kernel's own prints go nowhere, as usual
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
    finally:
        os._exit(code)


def serve(status_dir: Path) -> None:
    """Preload, say 'ready', then fork one kernel per request line until the grader goes away."""
    os.environ.setdefault("MPLBACKEND", INLINE)
    # debugpy warns about frozen modules when imported outside a kernel; kernels silence it the same way
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
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
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(pid, flush=True)
    # nobody reads the exit statuses any more: leave no folder behind in the temporary directory
    shutil.rmtree(status_dir, ignore_errors=True)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
