"""A throwaway PostgreSQL server for the tests: its own data folder, a free 127.0.0.1 port, trust login.

Debian's ``postgresql`` package provides the programs (/usr/lib/postgresql/<version>/bin). The
server refuses to run as root, so under root (CI) it runs as the package's ``postgres`` user.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = ("PostgreSQL's server programs (initdb, pg_ctl) are not installed: on Debian or Ubuntu run "
                "`sudo apt-get install postgresql` (CI's .ci/run does), on macOS `brew install postgresql`.")
START_TIMEOUT = 60  # seconds for initdb and for the server to accept connections (usually 1-3 s)
SUPERUSER = "lab"


def server_bin_dir() -> Path | None:
    """Return the folder with initdb and pg_ctl: on PATH, Debian's newest version, or pg_config's; None if absent."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                    key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if debian:
        return Path(debian[-1]).parent
    if shutil.which("pg_config"):
        bindir = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
        if bindir and (Path(bindir) / "initdb").exists():
            return Path(bindir)
    return None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One PostgreSQL server in a temporary folder; ``start()``, ``url(database)``, ``stop()``."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        # PostgreSQL will not run as root; Debian's package creates the unprivileged user "postgres".
        self.run_as = "postgres" if getattr(os, "geteuid", lambda: -1)() == 0 else None
        account = None
        if self.run_as:
            import pwd  # Unix only, like running as root; the tests also run on Windows

            try:
                account = pwd.getpwnam(self.run_as)
            except KeyError:
                raise RuntimeError("The tests run as root and PostgreSQL refuses to: there is no 'postgres' user "
                                   "to run it as. Install Debian's postgresql package (it creates one) or run the "
                                   "tests as a normal user.") from None
        self.base = Path(tempfile.mkdtemp(prefix="lab-postgres-"))
        if account:
            os.chown(self.base, account.pw_uid, account.pw_gid)
        self.data = self.base / "data"
        self.log_file = self.base / "server.log"
        self.port = 0

    def _run(self, *args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess:
        """Run one of PostgreSQL's programs (as the server's user); return the finished process."""
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.base)

    def log(self) -> str:
        """Return the server's log so far (what to look at when something failed)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return "(no server log)"

    def start(self) -> "PostgresServer":
        """Create the cluster and start the server; raise with its log if it is not up within the time limit."""
        made = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                         "--locale=C", "--no-sync")
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{made.stdout}\n{made.stderr}")
        for _ in range(3):  # another program may take the free port between the probe and the start
            self.port = free_port()
            # Loopback only; the unix socket in the temporary folder, not in /var/run/postgresql.
            # Shared memory as files in the data folder (mmap), removed with it: POSIX segments in
            # /dev/shm outlive a server that is killed.
            options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} "
                       "-c fsync=off -c full_page_writes=off -c max_connections=100 "
                       "-c dynamic_shared_memory_type=mmap")
            started = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-o", options,
                                "-w", "-t", str(START_TIMEOUT), "start", timeout=START_TIMEOUT + 10)
            if started.returncode == 0 and self._accepts_connections():
                return self
            self.stop()
        raise RuntimeError(f"PostgreSQL did not start within {START_TIMEOUT} s.\n{started.stdout}\n{started.stderr}\n"
                           f"--- server log ---\n{self.log()}")

    def _accepts_connections(self) -> bool:
        """Return True once a client can log in over TCP (bounded by START_TIMEOUT)."""
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                                     connect_timeout=5):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.2)
        return False

    def create_database(self, name: str) -> str:
        """Create an empty database ``name``; return its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True, connect_timeout=10) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, database: str) -> str:
        """Return the SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server (fast shutdown; SIGKILL if it hangs or was still starting); safe to call twice."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop", timeout=45)
        # Whatever still works on this folder: a server that did not stop, or an initdb or a server
        # start that an interrupted run cut short (pg_ctl starts the server in a session of its own).
        deadline = time.monotonic() + START_TIMEOUT
        while self._processes() and time.monotonic() < deadline:
            for pid in self._processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)

    def _processes(self) -> list[int]:
        """Return the ids of the processes started on this server's data folder or working in its folder (Linux /proc)."""
        found, data = [], str(self.data).encode()
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                started_on = data in (entry / "cmdline").read_bytes().split(b"\0")
                inside = Path(os.readlink(entry / "cwd")).is_relative_to(self.base)
            except OSError:  # gone meanwhile, a zombie, or not ours to read
                continue
            if started_on or inside:
                found.append(int(entry.name))
        return found

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
