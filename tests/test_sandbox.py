"""The grading sandbox on its own: what a kernel forked into it can see and do, its limits, the rootless path,
and what happens on a machine without it.

Kernels are started exactly as autograding starts them (instructor.forkserver.ForkingKernelManager).
The sandbox needs Debian's bubblewrap; without it these tests say what to install (and fail under CI=true,
where .ci/run installs it).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from instructor import sandbox
from instructor.course import ASSIGNMENT, make_scratch_course, nbgrader, write_complete_submission

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def working_sandbox() -> None:
    """Skip (or fail under CI) where the sandbox cannot start, saying why."""
    missing = sandbox.problem()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)


def _run_in_kernel(code: str, folder: Path, limits: dict | None = None) -> dict:
    """Start a sandboxed grading kernel with ``folder`` as its student's folder, run ``code``; return its JSON print."""
    from instructor.forkserver import ForkingKernelManager, stop_zygotes

    async def run() -> dict:
        km = ForkingKernelManager(kernel_name="python3")
        km.sandbox, km.limits = True, limits or {"memory_mb": 4096, "cpu_seconds": 60}
        await km.start_kernel(cwd=str(folder))
        client = km.client()
        client.start_channels()
        printed: list[str] = []
        try:
            await client.wait_for_ready(timeout=60)
            await client.execute_interactive(code, timeout=60, output_hook=lambda m: printed.append(
                m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
        finally:
            client.stop_channels()
            await km.shutdown_kernel(now=True)
        return json.loads("".join(printed).strip().splitlines()[-1])

    try:
        return asyncio.run(run())
    finally:
        stop_zygotes()


def test_a_kernel_sees_its_own_copy_and_nothing_of_the_course(working_sandbox, tmp_path, monkeypatch):
    """Its folder is a copy (writes do not reach the original); the checkout, the grader's secrets and the network
    do not exist; it is an unprivileged user with no capabilities and sees only its own processes."""
    monkeypatch.setenv("CH8_SANDBOX_TEST_SECRET", "s3cret")
    monkeypatch.setenv("LAB_GRADEBOOK_URL", "postgresql://grader:pw@db/ch8")
    (tmp_path / "mine.txt").write_text("the student's file")
    seen = _run_in_kernel('''
import json, os, socket
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1); net = "reached"
except OSError as e:
    net = type(e).__name__
open("mine.txt", "a").write(" changed")
json_out = {"mine": open("mine.txt").read(), "root": sorted(os.listdir("/")), "uid": os.getuid(),
            "solutions": os.path.exists("ROOT/solutions"), "course": os.path.exists("ROOT/course"),
            "tasks": os.path.exists("ROOT/tasks.py"), "net": net, "pid": os.getpid(),
            "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "caps": [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0],
            "env": sorted(os.environ)}
print(json.dumps(json_out))
'''.replace("ROOT", str(ROOT)), tmp_path)
    assert seen["mine"] == "the student's file changed" and (tmp_path / "mine.txt").read_text() == "the student's file"
    assert not seen["solutions"] and not seen["course"] and not seen["tasks"]
    assert seen["net"] != "reached" and seen["caps"] == "0000000000000000"
    assert len(seen["procs"]) <= 3 and seen["pid"] in seen["procs"]
    assert seen["uid"] == (sandbox.NOBODY if os.geteuid() == 0 else os.getuid())
    assert "CH8_SANDBOX_TEST_SECRET" not in seen["env"] and "LAB_GRADEBOOK_URL" not in seen["env"]


def test_limits_turn_a_runaway_into_an_error_in_its_own_kernel(working_sandbox, tmp_path):
    """An array too large for the memory limit is a MemoryError there; CPU, processes and file size are capped."""
    seen = _run_in_kernel('''
import json, resource
import numpy as np
try:
    np.ones((100_000, 100_000)); memory = "allocated"
except MemoryError:
    memory = "MemoryError"
limits = {name: resource.getrlimit(getattr(resource, name))[1] for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE")}
print(json.dumps({"memory": memory, **limits}))
''', tmp_path, {"memory_mb": 1024, "cpu_seconds": 50})
    assert seen["memory"] == "MemoryError"
    assert seen["RLIMIT_AS"] == 1024 * 2 ** 20 and seen["RLIMIT_CPU"] == 55
    assert 0 < seen["RLIMIT_NPROC"] <= 256 and 0 < seen["RLIMIT_FSIZE"] <= 256 * 2 ** 20


def test_without_bubblewrap_autograding_stops_and_says_what_to_install(tmp_path):
    """No bwrap on PATH: the runner and plain nbgrader both stop before grading anyone, naming the package."""
    assert "apt-get install bubblewrap" in sandbox.INSTALL_HINT
    course = make_scratch_course(tmp_path / "course")
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    write_complete_submission(course, "ann")
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "unshare", "setpriv", "env"):
        if shutil.which(tool):
            (bare / tool).symlink_to(shutil.which(tool))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{bare}")
    runner = subprocess.run([sys.executable, "-m", "instructor.autograde", "--course", str(course)], cwd=course,
                            env=env, capture_output=True, text=True, timeout=300)
    assert runner.returncode == 2 and "bubblewrap" in runner.stderr and "graded 1" not in runner.stdout
    plain = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], cwd=course, env=env,
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode != 0 and "Autograding stopped" in plain.stdout + plain.stderr
    assert not list((course / "course" / "autograded").glob("*/ch8/*.ipynb"))


def _unprivileged(command: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``command`` as nobody, the way an instructor without root runs it: in a mount namespace of its own where
    the Python installation (here under root's private home) can be reached, and nothing else changes."""
    blocked = next((p for p in Path(sys.base_prefix).resolve().parents
                    if p != Path("/") and not p.stat().st_mode & 0o001), None)
    script = ["set -e"]
    if blocked is not None:  # e.g. /root (0700) above /root/.pyenv: show the installation past it
        stage = Path("/run") / f"ch8-python-{os.getpid()}"
        script += [f"mkdir -p {stage}", f"mount --bind {blocked} {stage}",
                   f"mount -t tmpfs -o mode=0755 tmpfs {blocked}"]
        inner = Path(sys.base_prefix).resolve().relative_to(blocked)
        script += [f"mkdir -p {blocked / inner}", f"mount --bind {stage / inner} {blocked / inner}"]
    script.append('exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"')
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script),
                           "sh", *command], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(os.geteuid() != 0, reason="run by an unprivileged user, every other test here is the rootless path")
def test_the_rootless_path_grades_a_submission(working_sandbox, tmp_path):
    """An instructor who is not root: the sandbox starts in a user namespace of its own and grades a notebook."""
    course = make_scratch_course(tmp_path / "course")
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    write_complete_submission(course, "ann")
    for path in [tmp_path, *tmp_path.parents]:
        if path in (Path("/"), Path("/tmp")):
            break
        path.chmod(path.stat().st_mode | 0o011)  # nobody may walk to the course (pytest's folders are private)
    cache = tmp_path / "cache"
    cache.mkdir()
    subprocess.run(["chown", "-R", "65534:65534", str(course), str(cache)], check=True)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(cache), "MNIST_CACHE": str(cache),
           "MNIST_DIR": os.environ.get("MNIST_DIR", ""), "LANG": "C.UTF-8"}
    said = _unprivileged([sys.executable, "-c", "from instructor.sandbox import problem; print(problem())"], env)
    assert said.stdout.strip() == "None", said.stdout + said.stderr
    graded = _unprivileged([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--notebook=01_overfitting",
                            "--Execute.timeout=60"], env, cwd=course)
    record = course / "course" / "grading_status" / "ann" / "01_overfitting.json"
    assert record.exists(), (graded.stdout + graded.stderr)[-3000:]
    data = json.loads(record.read_text())
    assert data["sandbox"] == "on" and sum(v["points"] for v in data["verdicts"]) == 7
