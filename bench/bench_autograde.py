"""Print how long autograding takes: nbgrader as it comes, the lab's runner on one core (with and without the
sandbox), and on all cores; what the sandbox and the sealed checks cost per submission.

Grades synthetic classes of complete submissions (the solutions' answers in the practice copies) in
scratch courses and ends with the line ``class of 100 on this machine: M min``. Where the machine lets
this process make a cgroup (root, cgroup v1 or v2 with cpuacct/cpu.stat), it also prints the CPU
seconds every process of a run used, sandboxes included: CPU time moves far less than wall time when
other work shares the machine.

    python bench/bench_autograde.py [--students 100] [--serial 6]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from instructor.course import ASSIGNMENT, make_scratch_course, nbgrader, write_complete_submission
from instructor.verdicts import read_records

# nbgrader's own Execute and steps, none of the lab's (no sandbox, no sealed checks, no fork server, every cell)
PLAIN = '''
from nbgrader.preprocessors import Execute as _Execute
c.Autograde.autograde_preprocessors = [_Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                                       AssignLatePenalties, CheckCellMetadata]  # nbgrader's own list
c.Autograde.pre_convert_hook = None
c.Autograde.post_convert_hook = None
'''


def scratch_class(folder: Path, students: int, plain: bool = False) -> Path:
    """Return a released scratch course holding ``students`` complete submissions."""
    course = make_scratch_course(folder)
    if plain:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(PLAIN)
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    for k in range(students):
        write_complete_submission(course, f"student{k:03d}")
    return course


def _cpu_group() -> Path | None:
    """Return a new cgroup that counts CPU time (removed by the caller), or None where none can be made."""
    for base, usage in ((Path("/sys/fs/cgroup/cpuacct"), "cpuacct.usage"), (Path("/sys/fs/cgroup"), "cpu.stat")):
        if (base / usage).exists() and os.access(base, os.W_OK):
            group = base / f"ch8-bench-{os.getpid()}-{time.monotonic_ns()}"
            try:
                group.mkdir()
                return group
            except OSError:
                continue
    return None


def _cpu_seconds(group: Path) -> float:
    """Return the CPU seconds used so far by every process in ``group``."""
    if (group / "cpuacct.usage").exists():
        return int((group / "cpuacct.usage").read_text()) / 1e9
    stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
    return int(stat["usage_usec"]) / 1e6


def timed(command: list[str], course: Path) -> tuple[float, float | None]:
    """Run ``command`` in ``course``; return its wall-clock seconds and CPU seconds (None if not measurable)."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    group = _cpu_group()

    def join_group() -> None:
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    start = time.perf_counter()
    result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, preexec_fn=join_group)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds(group) if group is not None else None
    if group is not None:
        for _ in range(100):  # the run's last processes may take a moment to be gone
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)
    if result.returncode != 0:
        raise SystemExit((result.stdout + result.stderr)[-3000:])
    return seconds, cpu


def runner(course: Path, *args: str) -> list[str]:
    """Return the command line of the lab's autograde runner for ``course``."""
    return [sys.executable, "-m", "instructor.autograde", "--course", str(course), *args]


def _per(value: float | None, n: int) -> str:
    """Return ``value`` per submission as text ('' when not measured)."""
    return "" if value is None else f", CPU {value / n:.2f} s per submission"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100, help="class size graded on all cores (default 100)")
    parser.add_argument("--serial", type=int, default=6, help="class size for the one-core runs (default 6)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n, m = args.serial, args.students
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        plain, plain_cpu = timed([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT],
                                 scratch_class(root / "plain", n, plain=True))
        print(f"nbgrader autograde as it comes, {n} complete submissions on one core (its own steps, every cell, "
              f"kernels started normally, no sandbox): {plain:.1f} s = {plain / n:.1f} s per submission"
              f"{_per(plain_cpu, n)}", flush=True)
        bare, bare_cpu = timed(runner(scratch_class(root / "bare", n), "--jobs", "1", "--no-sandbox"), root / "bare")
        print(f"lab runner --jobs 1 --no-sandbox, {n} submissions: {bare:.1f} s = {bare / n:.1f} s per submission"
              f"{_per(bare_cpu, n)}", flush=True)
        one, one_cpu = timed(runner(scratch_class(root / "one", n), "--jobs", "1"), root / "one")
        print(f"lab runner --jobs 1 (sandbox, sealed checks), {n} submissions: {one:.1f} s = {one / n:.1f} s per "
              f"submission{_per(one_cpu, n)}", flush=True)
        checks = [sum(v.cpu for v in r.verdicts) for r in read_records(root / "one" / "course" / "grading_status")]
        per_submission = sum(checks) / n
        print(f"the sealed checks' own CPU in the grader: {per_submission:.2f} s per submission "
              f"(median notebook {statistics.median(checks):.3f} s)")
        if one_cpu is not None and bare_cpu is not None:
            print(f"the sandbox costs {(one_cpu - bare_cpu) / n:+.2f} CPU s per submission "
                  f"({(one - bare) / n:+.2f} s of wall time on one core)")
        full, full_cpu = timed(runner(scratch_class(root / "all", m)), root / "all")
        print(f"lab runner on {cores} cores, {m} complete submissions: {full:.1f} s = {full / m:.2f} s per submission"
              f"{_per(full_cpu, m)}")
    print(f"class of 100 on this machine: {full / m * 100 / 60:.1f} min")


if __name__ == "__main__":
    main()
