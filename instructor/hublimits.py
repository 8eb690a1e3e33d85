"""Per-student limits on the class hub's machine: every server in a cgroup of its own, plus rlimits.

JupyterHub's local spawner runs each server as its student's system account with the whole machine
at its disposal. ``LimitedSpawner`` (hub/jupyterhub_config.py) keeps that and adds, per server:

* a cgroup, the kernel's own accounting, holding the server and everything it starts (kernels,
  Validate's kernel, terminals): their memory together (past it the kernel's OOM killer stops the
  student's largest process, nobody else's), a CPU cap with equal shares between students, a
  number of processes and threads. cgroup v2 (Debian 11 and Ubuntu 21.10 onwards: one folder per
  server below /sys/fs/cgroup/<parent>) or v1 (older or hybrid hosts: below the hub's own cgroup
  in each hierarchy);
* as many BLAS threads as cores (OMP_NUM_THREADS): threads beyond the CPU cap only wait in turn;
* rlimits set before the server starts and inherited by everything it starts: ``RLIMIT_AS`` at the
  same memory limit, so that one oversized allocation is a ``MemoryError`` in the kernel that asked
  (its variables intact) instead of an OOM kill, and ``RLIMIT_NPROC``, the process limit that still
  holds where cgroups cannot be used (then the hub's log says so).

A server's cgroup outlives a hub restart (the folders are in the spawner's saved state) and is
emptied and removed when the server stops, so that no kernel of a killed server runs on unseen.
"""
from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Integer, List, Unicode

CGROUP_FS = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")  # cpuacct: CPU seconds per student, for the bench
V2_CONTROLLERS = ("memory", "cpu", "pids")
CPU_PERIOD_US = 100_000  # the scheduler's accounting period for the CPU cap (the kernel's default)


@dataclass(frozen=True)
class Limits:
    """What one student's server may use, everything it starts included."""

    memory: int  # bytes
    cpus: float  # cores
    tasks: int  # processes and threads


@dataclass(frozen=True)
class Usage:
    """What a server's cgroup has used: memory now and at most (bytes), CPU time (seconds)."""

    memory: int
    memory_peak: int
    cpu_seconds: float


def version() -> int:
    """Return 2 when the memory controller is on the unified (v2) hierarchy, 1 when on v1, 0 without it."""
    unified = CGROUP_FS / "cgroup.controllers"
    if unified.is_file() and "memory" in unified.read_text().split():
        return 2
    return 1 if (CGROUP_FS / "memory" / "cgroup.procs").is_file() else 0


def own_cgroups(pid: int | str = "self") -> dict[str, Path]:
    """Return {controller: cgroup folder} of process ``pid``; on v2 one folder, under the key "unified"."""
    unified = version() == 2
    folders = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers and unified:  # "0::/path"; on a hybrid host that hierarchy has no controller we use
            folders["unified"] = CGROUP_FS / path.lstrip("/")
        for controller in controllers.split(","):
            if controller in V1_CONTROLLERS and not unified:
                folders[controller] = CGROUP_FS / controller / path.lstrip("/")
    return folders


def _write(path: Path, value: str) -> None:
    """Write one value into a cgroup file (one write call, as the kernel wants it)."""
    with open(path, "w") as handle:
        handle.write(value)


def _v2_parent(name: str) -> Path:
    """Return the v2 folder that holds the servers' groups, at the top of the hierarchy, controllers enabled.

    At the top rather than below the hub's own cgroup: a cgroup that holds processes (the hub's
    does) cannot pass controllers to its children, and a systemd unit's cgroup is systemd's own.
    systemd leaves a folder it did not make alone, and enables memory, cpu and pids at the root.
    """
    parent = CGROUP_FS / name
    parent.mkdir(exist_ok=True)
    for folder in (CGROUP_FS, parent):
        _write(folder / "cgroup.subtree_control", " ".join(f"+{c}" for c in V2_CONTROLLERS))
    return parent


def servers_parent(name: str) -> list[Path]:
    """Return the folders (one per hierarchy) under which the servers' groups are made; [] without cgroups."""
    if version() == 2:
        return [_v2_parent(name)]
    folders = _v1_parents(name)
    for folder in folders:
        folder.mkdir(exist_ok=True)
    return folders


def _v1_parents(name: str) -> list[Path]:
    """Return the v1 folders named ``name`` below this process's cgroups (cpu and cpuacct may share one)."""
    own = own_cgroups() if version() == 1 else {}
    return sorted({own[c].resolve() / name for c in V1_CONTROLLERS if c in own})


def remove_groups(name: str, users: list[str]) -> None:
    """Remove the groups of ``users``' servers below the servers' parent ``name``, then the parent if empty.

    For the hub's caller (instructor/classhub.py), which runs in the cgroup the hub started in.
    """
    parents = [CGROUP_FS / name] if version() == 2 else _v1_parents(name)
    for user in users:
        remove([str(parent / group_name(user)) for parent in parents])
    for parent in parents:
        with contextlib.suppress(OSError):
            parent.rmdir()


def group_name(user: str, server: str = "") -> str:
    """Return the cgroup name of ``user``'s server (named servers get their own)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{user}-{server}" if server else user)


def make_group(parents: list[Path], name: str, limits: Limits) -> list[str]:
    """Make (or empty) the cgroup ``name`` below each parent, set ``limits`` in it; return its folders."""
    folders = [parent / name for parent in parents]
    kill(folders)  # what a killed server left behind (its kernels) must not run on
    for folder in folders:
        folder.mkdir(exist_ok=True)
        _set_limits(folder, limits)
    return [str(folder) for folder in folders]


def _set_limits(folder: Path, limits: Limits) -> None:
    """Write the limits whose files this cgroup folder has (v1 splits them over hierarchies)."""
    quota = max(1000, round(limits.cpus * CPU_PERIOD_US))
    files = {
        "memory.max": str(limits.memory),  # v2
        "memory.swap.max": "0",  # v2: the limit is memory, not memory plus swap
        "memory.limit_in_bytes": str(limits.memory),  # v1
        "memory.memsw.limit_in_bytes": str(limits.memory),  # v1 with swap accounting
        "cpu.max": f"{quota} {CPU_PERIOD_US}",  # v2; equal shares are the default weight
        "cpu.cfs_period_us": str(CPU_PERIOD_US),  # v1
        "cpu.cfs_quota_us": str(quota),
        "pids.max": str(limits.tasks),
    }
    for file, value in files.items():
        if (folder / file).exists():
            _write(folder / file, value)


def join(folders: list[str]) -> None:
    """Move the calling process into the cgroup ``folders`` (called between fork and exec)."""
    for folder in folders:
        _write(Path(folder) / "cgroup.procs", str(os.getpid()))


def processes(folders: list[str]) -> list[int]:
    """Return the ids of the processes in the cgroup (none if it is gone)."""
    for folder in folders:
        with contextlib.suppress(FileNotFoundError):
            return [int(pid) for pid in (Path(folder) / "cgroup.procs").read_text().split()]
    return []


def kill(folders: list[str] | list[Path], timeout: float = 10) -> None:
    """Kill every process in the cgroup and wait until it is empty (milliseconds; at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while (pids := processes([str(f) for f in folders])) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def remove(folders: list[str]) -> None:
    """Kill what is left in the cgroup, then delete it."""
    kill(folders)
    for folder in folders:
        with contextlib.suppress(FileNotFoundError, OSError):
            Path(folder).rmdir()


def usage(folders: list[str]) -> Usage:
    """Return the memory (now and peak) and the CPU seconds of the cgroup, from whichever files it has."""
    found: dict[str, int] = {}
    for folder in map(Path, folders):
        for key, file in (("memory", "memory.current"), ("memory", "memory.usage_in_bytes"),
                          ("peak", "memory.peak"), ("peak", "memory.max_usage_in_bytes"),
                          ("cpu_ns", "cpuacct.usage")):
            with contextlib.suppress(FileNotFoundError, ValueError):
                found[key] = int((folder / file).read_text().split()[0])
        with contextlib.suppress(FileNotFoundError):
            stat = dict(line.split() for line in (folder / "cpu.stat").read_text().splitlines())
            if "usage_usec" in stat:  # v2
                found["cpu_ns"] = int(stat["usage_usec"]) * 1000
    return Usage(found.get("memory", 0), found.get("peak", found.get("memory", 0)), found.get("cpu_ns", 0) / 1e9)


def reset_peak(folders: list[str]) -> None:
    """Start the cgroup's memory peak afresh where the kernel allows it (v1; v2's peak counts from the start)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            _write(Path(folder) / "memory.max_usage_in_bytes", "0")


def limits_of(folders: list[str]) -> dict[str, str]:
    """Return the limit files of a cgroup as the kernel reports them ({file: first line})."""
    found = {}
    for folder in map(Path, folders):
        for file in ("memory.max", "memory.limit_in_bytes", "cpu.max", "cpu.cfs_quota_us", "pids.max"):
            with contextlib.suppress(FileNotFoundError):
                found[file] = (folder / file).read_text().strip()
    return found


def cgroup_of(pid: int) -> list[str]:
    """Return the cgroup folders of process ``pid`` (v1: memory, cpu, cpuacct, pids; v2: one)."""
    return sorted({str(folder) for folder in own_cgroups(pid).values()})


class LimitedSpawner(LocalProcessSpawner):
    """LocalProcessSpawner with per-server limits: mem_limit, cpu_limit and tasks_limit, see the module."""

    tasks_limit = Integer(512, config=True,
                          help="Processes and threads a server may run, everything it starts included.")
    cgroup_parent = Unicode("jupyterhub-servers", config=True,
                            help="Name of the cgroup folder that holds the servers' groups (v2: at the top; "
                                 "v1: below the hub's own cgroups).")
    cgroup = List(help="The folders of this server's cgroup (kept in the spawner's state across hub restarts).")

    def limits(self) -> Limits:
        """Return this server's limits (memory defaults to the machine's, CPU to all its cores)."""
        memory = self.mem_limit or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return Limits(memory=int(memory), cpus=float(self.cpu_limit or os.cpu_count() or 1), tasks=self.tasks_limit)

    def make_preexec_fn(self, name: str):
        """Return the function run between fork and exec: join the cgroup, set the rlimits, become the user."""
        become_user = super().make_preexec_fn(name)
        limits = self.limits()
        try:
            self.cgroup = make_group(servers_parent(self.cgroup_parent), group_name(name, self.name), limits)
            reason = "" if self.cgroup else "this machine has no cgroup memory controller"
        except OSError as error:  # e.g. a read-only cgroup file system (some containers)
            self.cgroup, reason = [], str(error)
        if reason:
            self.log.warning("No cgroup for %s's server (%s): memory is limited per process only, CPU not at all",
                             name, reason)
        folders = list(self.cgroup)

        def preexec() -> None:
            join(folders)
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory, limits.memory))
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.tasks, limits.tasks))
            become_user()
        return preexec

    def get_env(self) -> dict:
        """Give BLAS (OpenBLAS, MKL, OpenMP) as many threads as the server has cores, not the machine's count.

        Under a CPU cap, threads beyond it wait for each other in turn: notebook 04 under a one-core
        cap takes 289 s with two BLAS threads, 36 s with one (and prints the same numbers).
        """
        env = super().get_env()
        if self.cpu_limit:
            env.setdefault("OMP_NUM_THREADS", str(max(1, int(self.cpu_limit))))
        return env

    def _group(self) -> list[str]:
        """Return this server's cgroup folders, only if they are below the servers' parent (never the hub's own)."""
        return [f for f in self.cgroup if Path(f).parent.name == self.cgroup_parent]

    async def poll(self):
        """Return the server's status; once it is gone, stop what it left in its cgroup (its kernels)."""
        folders = self._group()
        status = await super().poll()
        if status is not None and folders:
            remove(folders)
        return status

    async def stop(self, now: bool = False) -> None:
        """Stop the server as JupyterHub does, then whatever is left in its cgroup, and remove the cgroup."""
        folders = self._group()
        await super().stop(now=now)
        remove(folders)
        self.cgroup = []

    def load_state(self, state: dict) -> None:
        """Restore the cgroup folders with the process id after a hub restart."""
        super().load_state(state)
        self.cgroup = state.get("cgroup", [])

    def get_state(self) -> dict:
        """Save the cgroup folders with the process id."""
        state = super().get_state()
        if self.cgroup:
            state["cgroup"] = list(self.cgroup)
        return state

    def clear_state(self) -> None:
        """Forget the cgroup with the process id."""
        super().clear_state()
        self.cgroup = []
