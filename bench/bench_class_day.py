"""Print what one machine holds on a class day: N students at once on the class hub (N = 5, 10, 20).

The hub is hub/jupyterhub_config.py with its default limits, on 127.0.0.1, and its proxy; the
accounts are made for the run and removed after it (instructor/classhub.py). Each simulated student
logs in with a password, starts a server, opens the released lab (JupyterLab's page, on notebook
01), runs notebook 01 top to bottom with the right answers over the kernel's websocket, saves it
and submits the lab through nbgrader's exchange (the Assignments panel's endpoint): all through the
servers' own APIs (instructor/hubclient.py). First one student alone runs every notebook, 01 to 05,
for the sizing table in the README (cores and memory per student).

Needs root, configurable-http-proxy and MNIST_DIR. About 15 minutes on 2 cores for 5, 10 and 20;
every wait is bounded and everything started here is stopped at the end, even after Ctrl-C.

    MNIST_DIR=/path/to/mnist .venv/bin/python bench/bench_class_day.py [--sizes 5 10 20] [--minutes 60]
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import websocket

from instructor import hubclient, hublimits
from instructor.classhub import (COURSE_ID, Class, create_class, free_port, hub_environment, missing_for_the_lab,
                                 remove_class, remove_stale_classes, server_pid, shared_mnist, start_hub, start_proxy,
                                 stop_hub, stop_proxy)
from instructor.course import ASSIGNMENT, ROOT, solution_answers

TAG = "ch8b"  # every account of the run starts with it
NB1 = "01_overfitting"
CLASS = 30  # the class the README sizes a machine for
SPAWN_S, STOP_S, CELL_S = 300, 120, 900  # bounded waits: a server start, all servers' stop, one cell
GB = 1e9


@dataclass
class Student:
    """One simulated student's day: seconds to a running server and to run notebook 01, memory, error."""

    name: str
    ready_s: float = math.nan  # from logging in to a running server
    notebook_s: float = math.nan  # notebook 01 top to bottom, over the kernel's websocket
    reruns: int = 0  # Run All pressed again after the kernel was restarted under the student
    memory_peak: int = 0  # bytes, the server's cgroup (server, kernel, page cache it caused) at most
    error: str = ""


class MemoryWatch:
    """Samples the machine's memory in use, and each watched student's cgroup, twice a second; keeps the peaks."""

    def __init__(self) -> None:
        """Start sampling in a thread of its own."""
        self.groups: dict[str, list[str]] = {}
        self.peaks: dict[str, int] = {}
        self.together_peak = 0  # all watched students' cgroups at the same moment
        self.machine_peak = machine_used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Sample until stopped."""
        while not self._stop.wait(0.5):
            self.machine_peak = max(self.machine_peak, machine_used())
            together = 0
            for name, folders in list(self.groups.items()):
                now = hublimits.usage(folders).memory
                self.peaks[name] = max(self.peaks.get(name, 0), now)
                together += now
            self.together_peak = max(self.together_peak, together)

    def watch(self, name: str) -> list[str]:
        """Start watching ``name``'s server cgroup (found from its process); return its folders."""
        pid = server_pid(name)
        self.groups[name] = hublimits.cgroup_of(pid) if pid else []
        return self.groups[name]

    def peak(self, name: str) -> int:
        """Return the most memory ``name``'s cgroup has held (the kernel's own peak, or the samples')."""
        return max(self.peaks.get(name, 0), hublimits.usage(self.groups.get(name, [])).memory_peak)

    def restart(self) -> int:
        """Forget the peaks (a new round); return the machine's memory in use now."""
        self.groups, self.peaks, self.together_peak, self.machine_peak = {}, {}, 0, machine_used()
        return self.machine_peak

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=5)


def machine_used() -> int:
    """Return the machine's memory in use, in bytes (MemTotal - MemAvailable)."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) * 1024


def resident(pids: list[int]) -> int:
    """Return the resident memory of processes ``pids`` and all their descendants, in bytes."""
    total, todo = 0, list(pids)
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError, ValueError):
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            total += int(status.get("VmRSS", "0 kB").split()[0]) * 1024
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
    return total


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of ``values`` (the 95th of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else math.nan


def open_lab(hub: hubclient.Hub, name: str) -> None:
    """Open the lab as a browser does: the server's landing page sends JupyterLab to notebook 01, which loads."""
    landing = urlsplit(hub.call("GET", f"/user/{name}/", name).headers.get("Location", "")).path
    assert landing.endswith(f"/lab/tree/{ASSIGNMENT}/{NB1}.ipynb"), f"{name} lands on {landing!r}, not on the lab"
    page = hub.call("GET", f"/user/{name}/lab/tree/{ASSIGNMENT}/{NB1}.ipynb", name)
    assert page.status_code == 200 and "jupyter-config-data" in page.text, f"JupyterLab's page: HTTP {page.status_code}"


def run(hub: hubclient.Hub, name: str, notebook: str, answers: dict[str, str]) -> tuple[float, int]:
    """Run ``notebook`` in ``name``'s server with ``answers``, save it; return its seconds and how often it was rerun.

    Kernels started at the same moment on one machine can pick the same free port; Jupyter then
    restarts the losing kernel and JupyterLab reconnects: the student sees "Kernel restarting"
    and presses Run All again. So does this student, once; a failed cell fails.
    """
    started = time.monotonic()
    for rerun in range(2):
        try:
            _, replies = hubclient.run_notebook(hub, name, f"{ASSIGNMENT}/{notebook}.ipynb", answers, timeout=CELL_S)
            break
        except websocket.WebSocketConnectionClosedException:
            if rerun:
                raise
    failed = [reply for reply in replies if reply.status != "ok"]
    assert not failed, f"{notebook}: {failed[0].ename}: {failed[0].evalue}"
    return time.monotonic() - started, rerun


def submit(hub: hubclient.Hub, name: str) -> None:
    """Press Submit in the Assignments panel: the lab goes into nbgrader's exchange."""
    hub.ok("POST", f"/user/{name}/assignments/submit", name, json={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})


def stop_servers(hub: hubclient.Hub, names: list[str]) -> None:
    """Stop the servers of ``names`` and wait until the hub has none of them running."""
    for name in names:
        with contextlib.suppress(AssertionError):
            hub.stop_server(name)
    hub.wait("the round's servers stopping", lambda: not any(hub.server(name) for name in names), STOP_S, every=1)


def alone(hub: hubclient.Hub, klass: Class, name: str, watch: MemoryWatch,
          notebooks: list[str] | None) -> list[tuple[str, float, float, int]]:
    """One student alone runs the notebooks (all by default) in turn; return (notebook, wall s, CPU s, peak bytes) each."""
    started = time.monotonic()
    hub.log_in(name, klass.passwords[name])
    hub.spawn(name)
    hub.wait_for_server(name, SPAWN_S)
    group, rows = watch.watch(name), []
    print(f"a running server in {time.monotonic() - started:.1f} s, its start (the lab fetched, JupyterLab and "
          f"nbgrader's extensions loaded) {hublimits.usage(group).cpu_seconds:.1f} CPU s", flush=True)
    open_lab(hub, name)
    for notebook, answers in solution_answers(ROOT).items():
        if notebooks and notebook not in notebooks:
            continue
        hublimits.reset_peak(group)
        watch.peaks[name] = 0
        cpu = hublimits.usage(group).cpu_seconds
        seconds, _ = run(hub, name, notebook, answers)
        rows.append((notebook, seconds, hublimits.usage(group).cpu_seconds - cpu, watch.peak(name)))
        hub.shutdown_kernels(name)  # as a student closing a notebook: the next one starts from a fresh kernel
    submit(hub, name)
    stop_servers(hub, [name])
    return rows


def student_day(hub: hubclient.Hub, klass: Class, name: str, answers: dict[str, str], watch: MemoryWatch) -> Student:
    """Log in, start a server, open the lab, run notebook 01, save, submit; return what it took."""
    student = Student(name)
    try:
        started = time.monotonic()
        hub.log_in(name, klass.passwords[name])
        hub.spawn(name)
        hub.wait_for_server(name, SPAWN_S, every=1)
        student.ready_s = time.monotonic() - started
        watch.watch(name)
        open_lab(hub, name)
        student.notebook_s, student.reruns = run(hub, name, NB1, answers)
        submit(hub, name)
        student.memory_peak = watch.peak(name)
    except Exception as error:  # a student's failure is a figure of the bench, not its end
        student.error = f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
        said = [line for line in hub.tail(5000).splitlines() if name in line and line.startswith(("[E ", "[W "))]
        student.error += f" (hub: {said[-1][:300]})" if said else ""
    return student


def round_of(hub: hubclient.Hub, klass: Class, names: list[str], watch: MemoryWatch,
             deadline: float) -> tuple[list[Student], int, int]:
    """Let ``names`` all arrive at once and work; return each student's day, their memory together at its peak
    and the machine's extra memory at its peak (which the machine's other users move too)."""
    baseline = watch.restart()
    answers = solution_answers(ROOT)[NB1]
    pool = ThreadPoolExecutor(max_workers=len(names))
    futures = {pool.submit(student_day, hub, klass, name, answers, watch): name for name in names}
    done, late = wait(futures, timeout=max(1.0, deadline - time.monotonic()))
    pool.shutdown(wait=False, cancel_futures=True)  # the late ones end when their servers are stopped
    students = [future.result() for future in done] + [Student(futures[f], error="not done by the deadline") for f in late]
    together, extra = watch.together_peak, watch.machine_peak - baseline
    stop_servers(hub, names)
    return students, together, extra


def report(size: int, students: list[Student], together: int, extra: int, alone_s: float) -> tuple[list[str], str]:
    """Return one round's errors, one per line, and its figures as one line."""
    ready = [s.ready_s for s in students if not s.error]
    notebook = [s.notebook_s for s in students if not s.error]
    errors = [f"    {s.name}: {s.error}" for s in students if s.error]
    if not ready:
        return errors, f"{size} students at once: {len(errors)} errors"
    return errors, (f"{size} students at once: a running server in {statistics.median(ready):.1f} s (median) / "
                    f"{percentile(ready, 0.95):.1f} s (p95), notebook 01 in {statistics.median(notebook):.0f} s / "
                    f"{percentile(notebook, 0.95):.0f} s ({statistics.median(notebook) / alone_s:.1f}x alone), "
                    f"{max(s.memory_peak for s in students) / GB:.2f} GB per student at most, "
                    f"{together / GB:.1f} GB together (machine +{extra / GB:.1f} GB), "
                    f"{sum(s.reruns for s in students)} kernels restarted (Run All again), {len(errors)} errors")


def sizing(rows: list[tuple[str, float, float, int]]) -> list[str]:
    """Return the sizing lines: per notebook, what a student uses running it, and what a class of 30 needs.

    A running notebook keeps at most one core busy (the cap), for its CPU seconds: a class running it
    at once needs CLASS x CPU s core-seconds, CLASS cores to go as fast as one student alone.
    """
    lines = [f"{'':46}| class of {CLASS} at once",
             f"{'notebook':18} {'alone s':>7} {'CPU s':>6} {'GB/student':>11} | {'GB':>5} {'s on 2 cores':>13} "
             f"{'8 cores':>8} {CLASS:>5} cores"]
    for notebook, seconds, cpu, peak in rows:
        lines.append(f"{notebook:18} {seconds:7.1f} {cpu:6.1f} {peak / GB:11.2f} | {CLASS * peak / GB:5.1f} "
                     f"{CLASS * cpu / 2:13.0f} {CLASS * cpu / 8:8.0f} {CLASS * cpu / CLASS:11.0f}")
    return lines


def main() -> int:
    """Run the class day for each size; print the figures; remove everything; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20], help="students at once, per round")
    parser.add_argument("--minutes", type=float, default=60, help="stop everything after this long (default 60)")
    parser.add_argument("--notebooks", nargs="+", default=None, help="what the student alone runs (default: 01 to 05)")
    args = parser.parse_args()
    mnist = shared_mnist()
    problems = missing_for_the_lab(mnist)
    if problems:
        print("The class day bench needs:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, interrupted)  # `kill` must not leave the accounts behind either
    deadline = time.monotonic() + args.minutes * 60
    remove_stale_classes(TAG)
    names = ["alone"] + [f"s{size}-{i:02}" for size in sorted(args.sizes) for i in range(1, size + 1)]
    folder = Path(tempfile.mkdtemp(prefix="ch8-class-day-"))
    print(f"Class day bench: {os.cpu_count()} cores, {machine_used() / GB:.1f} of "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GB:.1f} GB in use, load average "
          f"{os.getloadavg()[0]:.1f}; making {len(names)} student accounts ...", flush=True)
    klass = create_class(folder, f"{TAG}-", students=names, instructors=("ines",), mnist_dir=mnist)
    url = f"http://127.0.0.1:{free_port()}"
    log = folder / "hub.log"
    env = hub_environment(klass, url, mnist)
    hub = hubclient.Hub(url, log)
    proxy = process = watch = None
    try:
        proxy = start_proxy(env, log)
        process = start_hub(klass, env, log)
        hub.wait("the hub answering", lambda: process.poll() is None and hub.answers(), 120)
        ines = klass.instructors[0]
        hub.log_in(ines, klass.passwords[ines])
        hub.wait("the formgrader service answering", lambda: hub.call(
            "GET", f"/services/{COURSE_ID}/formgrader/api/assignments", ines).status_code == 200, 120)
        for step in ("assign", "release"):  # the instructor generates and releases the lab
            hub.ok("POST", f"/services/{COURSE_ID}/formgrader/api/assignment/{ASSIGNMENT}/{step}", ines, timeout=300)
        watch = MemoryWatch()
        print(f"hub, proxy, formgrader and culler: {resident([process.pid, proxy.pid]) / GB:.2f} GB resident\n",
              flush=True)

        print("One student alone, each notebook in a fresh kernel (GB = the server's cgroup at its peak: server, "
              "kernel and the page cache they caused; a running notebook keeps one core busy, the cap):", flush=True)
        rows = alone(hub, klass, f"{TAG}-alone", watch, args.notebooks)
        print("\n".join(sizing(rows)) + "\n", flush=True)
        alone_s = dict((row[0], row[1]) for row in rows).get(NB1) or math.nan
        print(f"Students arriving at once, each running notebook 01 (alone: {alone_s:.0f} s); a running server = "
              "from logging in to the server's answer; memory = the server's cgroup at its peak; load average "
              f"{os.getloadavg()[0]:.1f}:", flush=True)
        failures, sizes = 0, sorted(args.sizes)
        for size in sizes:
            students, together, extra = round_of(hub, klass, [f"{TAG}-s{size}-{i:02}" for i in range(1, size + 1)],
                                                 watch, deadline)
            errors, line = report(size, students, together, extra, alone_s)
            failures += len(errors)
            for shown in errors + ([line] if size != sizes[-1] else []):
                print(shown, flush=True)
        text = log.read_text(errors="replace")
        print(f"(the servers' logs: {text.count('KernelRestarter: restarting kernel')} kernels restarted by Jupyter, "
              f"{text.count('Address already in use')} times for a port another kernel took first)")
        print(line)  # the largest class last
        return 1 if failures else 0
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        if watch is not None:
            watch.stop()
        if process is not None:
            stop_hub(process)
        if proxy is not None:
            stop_proxy(proxy)
        remove_class(klass)  # stops every server and kernel of the run, removes accounts, cgroups and files


def interrupted(signum: int, frame) -> None:
    """Turn SIGTERM into the KeyboardInterrupt of Ctrl-C, so that the clean-up runs."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
