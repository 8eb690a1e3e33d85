"""The student's side of a sealed check: calls the student's functions for the grader, and nothing else.

While a notebook is autograded, each check cell runs in the grader (instructor/checker.py). In the
student's kernel the cell is replaced by one call, ``serve(path)``: it connects to the check's
socket and, until the check ends, calls the notebook's functions by name with the values the check
sends, and answers with what they returned, what they did to their arguments and what they raised,
as plain data (instructor/channel.py). Functions the check passes in (nb02's pretend training)
become stubs that call back to the grader.

Nothing here decides a grade: whatever this process sends, the grader only reads data from it.
Code in the student's notebook can change this module like anything else in its own process; all
it can gain by that is to answer the check's questions some other way, which is what its own
functions were asked to do anyway.
"""
from __future__ import annotations

import builtins
import contextlib
import socket
import sys
import types
from typing import Any

from helpers.grading import describe, error_facts
from instructor.channel import (ChannelError, Connection, Decoder, Encoder, after_tree, apply_after, rng_state,
                                set_rng_state)

_CLEAR = object()  # a notebook variable that did not exist before a call


def _namespace() -> dict[str, Any]:
    """Return the notebook's variables (the kernel's user namespace)."""
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else sys.modules["__main__"].__dict__


class _Agent:
    """One check's connection: answers calls until the grader says the check has ended."""

    def __init__(self, connection: Connection, namespace: dict[str, Any] | None = None):
        self.connection, self.namespace = connection, namespace

    def serve(self) -> None:
        """Say hello (with the notebook's random state), then answer until the check ends."""
        self.connection.send({"op": "hello", "rng": rng_state()})
        while True:
            header, blobs = self.connection.receive()
            if header.get("op") == "end":
                set_rng_state(header["rng"])
                return
            if header.get("op") != "call":
                raise ChannelError("an unexpected message")
            self._call(header, blobs)

    def _call(self, header: dict, blobs: list) -> None:
        """Call one notebook function as asked; send back its result or error and the state of the arguments."""
        decoder = Decoder(blobs, callback=self._stub)
        args = decoder.decode(header["args"])
        kwargs = decoder.decode(header["kwargs"])
        extra = decoder.decode(header["notebook"])
        received = list(decoder.received)
        set_rng_state(header["rng"])
        scope, name = self.namespace if self.namespace is not None else _namespace(), str(header["name"])
        if name not in scope:
            self.connection.send({"op": "missing", "name": name, "rng": rng_state()})
            return
        function = scope[name]
        if not callable(function):
            self.connection.send({"op": "not a function", "describe": describe(function), "rng": rng_state()})
            return
        saved = {key: scope.get(key, _CLEAR) for key in extra}
        scope.update(extra)
        reply: dict[str, Any]
        encoder = Encoder(known=received)
        try:
            with contextlib.redirect_stderr(sys.stdout):
                result = function(*args, **kwargs)
            reply = {"op": "returned", "value": encoder.encode(result)}
            if isinstance(result, types.GeneratorType):
                reply["value"] = {"other": describe(result), "generator": True}
        except BaseException as error:  # the interrupt of an endless loop and sys.exit() included
            reply = {"op": "raised", "error": error_facts(error)}
        finally:
            for key, value in saved.items():
                if value is _CLEAR:
                    scope.pop(key, None)
                else:
                    scope[key] = value
        reply.update(after=after_tree(encoder, received), rng=rng_state())
        self.connection.send(reply, encoder.blobs)

    def _stub(self, number: int):
        """Return a function that, called by the student's code, runs the check's callable ``number`` in the grader."""
        def call_back(*args: Any, **kwargs: Any) -> Any:
            encoder = Encoder()
            tree = {"op": "callback", "id": number, "args": encoder.encode(tuple(args)),
                    "kwargs": encoder.encode(dict(kwargs)), "rng": rng_state()}
            self.connection.send(tree, encoder.blobs)
            header, blobs = self.connection.receive()
            decoder = Decoder(blobs, known=encoder.sent)
            apply_after(decoder, encoder.sent, header.get("after"))
            set_rng_state(header["rng"])
            if header.get("op") == "raised":
                # the check's own function failed (say, called once too often): the student's code
                # meets the same kind of error it would have met with the function in its notebook
                error = header.get("error", {})
                kind = getattr(builtins, str(error.get("ename")), None)
                raised = kind if isinstance(kind, type) and issubclass(kind, Exception) else RuntimeError
                raise raised(str(error.get("evalue", "")))
            return decoder.decode(header.get("value"))

        call_back.__name__ = f"given_function_{number}"
        return call_back


def serve(path: str, namespace: dict[str, Any] | None = None) -> None:
    """Answer the check at socket ``path`` until it ends (the whole body of a check cell while grading).

    ``namespace``: where the functions are (default: the notebook's variables).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    connection = Connection(sock)
    try:
        _Agent(connection, namespace).serve()
    finally:
        connection.close()
