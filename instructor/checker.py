"""Where a check's verdict is decided while grading: in the grader, from data, never in the student's process.

For each graded check cell, the grading Execute (instructor/nbgrader_steps.py) does two things at
once: it runs the check's code here, in a thread of the grader, with the check's own source from the
gradebook and a namespace of the notebook's setup made by the instructor's own cells; and it runs,
in the student's sandboxed kernel, one line that serves the check's calls (instructor/agent.py).
Whenever the check calls a student's function by name (``helpers.call``), the call crosses the
data-only channel (instructor/channel.py); the answer comes back as numbers, text and arrays. The
check's comparisons, its messages and its verdict never leave the grader, so nothing the student's
cells do to their own process (rebinding or editing the checking code, IPython's hooks and input
transformers, threads, frames, the garbage collector) can reach them.

A check passes when its code runs to the end without raising; ``Outcome`` says what it printed and,
if it failed, why.
"""
from __future__ import annotations

import builtins
import contextlib
import functools
import io
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.data import load_lab_data as _load_lab_data
from helpers.grading import (CheckFailed, Foreign, a_generator, calls_through, explain, not_a_function,
                             not_defined)
from instructor.channel import (ChannelError, Connection, Decoder, Encoder, after_tree, apply_after, rng_state,
                                set_rng_state)

SETUP_SUFFIXES = ("-setup", "-given")
"""Cells of a source notebook whose code the checks may rely on (the setup cell and the given functions)."""
CONNECT_S = 20  # seconds the kernel may take to start serving a check once its cell runs


@dataclass
class Outcome:
    """What one check did in the grader: passed or not, what it printed, and the error it ended with."""

    passed: bool
    printed: str = ""
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    why: str = "passed"  # one of instructor.verdicts.WHY
    cpu: float = 0.0  # CPU seconds of the check's thread in the grader


@functools.lru_cache(maxsize=1)
def shared_lab_data():
    """Return the lab's data once per grading process, read only: no check (and no student) can change it."""
    data = _load_lab_data()
    for array in vars(data).values():
        array.flags.writeable = False
    return data


def notebook_namespace(sources: list[str]) -> dict[str, Any]:
    """Return the namespace the checks of one notebook run in: its setup and given cells, run here."""
    import helpers.data

    namespace: dict[str, Any] = {"__name__": "__check__"}
    # The setup cells call load_lab_data(): here it hands out the one read-only copy of this process.
    original = helpers.data.load_lab_data
    helpers.data.load_lab_data = shared_lab_data
    try:
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
            for source in sources:
                exec(compile(source, "<setup>", "exec"), namespace)  # noqa: S102 (the instructor's own cells)
    finally:
        helpers.data.load_lab_data = original
    return namespace


class Remote:
    """The check's way to the student's functions: one connection to the agent in the kernel."""

    def __init__(self, connection: Connection, timeout: float):
        self.connection, self.timeout = connection, timeout

    def receive(self) -> tuple[dict, list]:
        """Return the agent's next message (bounded wait)."""
        return self.connection.receive(self.timeout)

    def __call__(self, label: str, name: str, args: tuple, kwargs: dict, notebook_vars: dict, hint: str) -> Any:
        """Call the notebook's function ``name`` in the student's kernel; return its answer or raise CheckFailed."""
        callbacks: dict[int, Callable] = {}
        encoder = Encoder(callbacks=callbacks)
        request = {"op": "call", "name": name, "args": encoder.encode(tuple(args)),
                   "kwargs": encoder.encode(dict(kwargs)), "notebook": encoder.encode(dict(notebook_vars)),
                   "rng": rng_state()}
        sent = encoder.sent
        self.connection.send(request, encoder.blobs)
        while True:
            header, blobs = self.receive()
            op = header.get("op")
            if op == "callback":
                self._call_back(header, blobs, callbacks)
                continue
            set_rng_state(header.get("rng"))
            if op == "missing":
                raise not_defined(name)
            if op == "not a function":
                raise not_a_function(label, Foreign(str(header.get("describe"))[:200]))
            decoder = Decoder(blobs, known=sent)
            if op == "returned":
                value = decoder.decode(header.get("value"))
                apply_after(decoder, sent, header.get("after"))
                if isinstance(value, Foreign) and value.generator:
                    raise a_generator(label, value)
                return value
            if op == "raised":
                apply_after(decoder, sent, header.get("after"))
                facts = header.get("error")
                if not isinstance(facts, dict):
                    raise ChannelError("an error without its facts")
                raise explain(label, {key: str(facts.get(key, "")) for key in ("kind", "ename", "evalue", "where")},
                              hint)
            raise ChannelError("an unexpected message")

    def _call_back(self, header: dict, blobs: list, callbacks: dict[int, Callable]) -> None:
        """Run the check's own function the student's code called; send back its result and the arguments' state."""
        number = header.get("id")
        if number not in callbacks:
            raise ChannelError("a call back to nothing the check sent")
        decoder = Decoder(blobs)
        args, kwargs = decoder.decode(header.get("args")), decoder.decode(header.get("kwargs"))
        if not isinstance(args, tuple) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise ChannelError("a call back without its arguments")
        received = list(decoder.received)
        set_rng_state(header.get("rng"))
        encoder = Encoder(known=received)
        try:
            reply = {"op": "result", "value": encoder.encode(callbacks[number](*args, **kwargs))}
        except Exception as error:  # noqa: BLE001 (the student's code meets it, as it would in its notebook)
            reply = {"op": "raised", "error": {"ename": type(error).__name__, "evalue": str(error)[:200]}}
        reply.update(after=after_tree(encoder, received), rng=rng_state())
        self.connection.send(reply, encoder.blobs)


def _print_into(buffer: io.StringIO) -> Callable[..., None]:
    """Return a print() that writes into ``buffer`` (the check's own output), not the grader's stdout."""
    def check_print(*values: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None,
                    flush: bool = False) -> None:
        builtins.print(*values, sep=sep, end=end, file=buffer if file is None else file)
    return check_print


class CheckRun:
    """One check running in a thread of the grader while the kernel serves its calls."""

    def __init__(self, grade_id: str, source: str, namespace: dict[str, Any], folder: Path, timeout: float):
        self.grade_id, self.source, self.namespace, self.timeout = grade_id, source, namespace, timeout
        self.path = folder / f"check-{os.urandom(6).hex()}.sock"
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.path))
        self.path.chmod(0o777)  # the kernel's user (nobody, when the grader is root) must connect
        self.listener.listen(1)
        self.connection: Connection | None = None
        self.outcome = Outcome(False, why="no answer", ename="CheckFailed")
        self._thread = threading.Thread(target=self._run, name=f"check {grade_id}", daemon=True)
        self._thread.start()

    def serve_code(self) -> str:
        """Return the one line the kernel runs instead of the check cell."""
        return f"__import__('instructor.agent', fromlist=['serve']).serve({str(self.path)!r})"

    def _run(self) -> None:
        """Accept the kernel's connection, then run the check's code with calls going through it."""
        started = time.thread_time()
        try:
            self._serve_check()
        finally:
            self.outcome.cpu = round(time.thread_time() - started, 4)

    def _serve_check(self) -> None:
        """Run the check once the kernel connects; leave its outcome in ``self.outcome``."""
        buffer = io.StringIO()
        try:
            self.listener.settimeout(CONNECT_S)
            sock, _ = self.listener.accept()
        except OSError:
            self.outcome = _failed(buffer, "no answer", "This check could not reach your notebook's Python process "
                                   "(it did not start serving the check). It scores 0.")
            return
        finally:
            self.listener.close()
            self.path.unlink(missing_ok=True)
        self.connection = Connection(sock)
        remote = Remote(self.connection, self.timeout)
        try:
            header, _ = remote.receive()
            if header.get("op") != "hello":
                raise ChannelError("no greeting")
            set_rng_state(header.get("rng"))
            self.namespace["print"] = _print_into(buffer)
            code = compile(self.source, f"<check {self.grade_id}>", "exec")
            with calls_through(remote), np.errstate(all="ignore"):
                exec(code, self.namespace)  # noqa: S102 (the instructor's check, from the gradebook)
            self.outcome = Outcome(True, buffer.getvalue())
        except CheckFailed as failed:
            why = "timed out" if getattr(failed, "kind", "") == "interrupted" else "check failed"
            self.outcome = Outcome(False, buffer.getvalue(), "CheckFailed", str(failed), failed._render_traceback_(), why)
        except ChannelError as broken:
            self.outcome = _failed(buffer, "channel", f"This check lost its connection to your notebook's Python "
                                   f"process ({broken}), so it could not finish. It scores 0.")
        except Exception as error:  # noqa: BLE001 (the check's own code met a value it could not handle)
            text = " ".join(str(error).split())[:300]
            self.outcome = Outcome(False, buffer.getvalue(), type(error).__name__, text,
                                   [f"\x1b[0;31m{type(error).__name__}\x1b[0m: {text}"], "check error")
        finally:
            self.namespace.pop("print", None)
            self._end()

    def _end(self) -> None:
        """Tell the kernel the check has ended (with the random state the check left), then hang up."""
        if self.connection is None:
            return
        try:
            self.connection.send({"op": "end", "rng": rng_state()})
        except (OSError, ValueError):
            pass
        # Hanging up ends the kernel's serving at once, even if it was still waiting for an answer.
        self.connection.close()

    def finish(self, wait: float = 10.0) -> Outcome:
        """Return the check's outcome once the kernel's serving ended (hanging up on it if it still waits)."""
        if self.connection is None:
            self.listener.close()  # the kernel's cell is over and it never called: it never will
        self._thread.join(wait)
        if self._thread.is_alive() and self.connection is not None:
            self.connection.close()  # a kernel that no longer serves: the check's waiting ends now
            self._thread.join(wait)
        self.listener.close()
        self.path.unlink(missing_ok=True)
        if self.connection is not None:
            self.connection.close()
        return self.outcome


def _failed(buffer: io.StringIO, why: str, message: str) -> Outcome:
    """Return a failed outcome whose error is ``message`` (a sentence for the student)."""
    return Outcome(False, buffer.getvalue(), "CheckFailed", message, [f"\x1b[0;31mCheckFailed\x1b[0m: {message}"], why)


