"""The data-only channel between a check (in the grader) and the student's functions (in the sandbox).

A message is a JSON header plus the raw bytes of the arrays it carries, framed on a Unix socket.
Values are rebuilt from plain data only: None, truth values, numbers, text, NumPy arrays and
scalars of plain number or text types, and lists, tuples and dicts of those. Nothing that comes
from the student's side is ever unpickled or evaluated: JSON is parsed, array bytes are copied
into arrays of a dtype checked against a short list, and everything else (a generator, an object
of the student's own class, ...) arrives as a ``Foreign`` value that carries only a description.

Identity and changes in place travel too, because the checks need them: every list and array the
caller sends is numbered; the other side answers with the new contents of each (so that
``weights += ...`` inside a student's function reaches the check's arrays) and refers to them by
number where it hands one back (so that "you returned the very arrays you were given" can be
told). A callable the caller sends becomes, on the other side, a stub that calls back.
"""
from __future__ import annotations

import json
import math
import socket
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from helpers.grading import Foreign, describe

MAX_MESSAGE = 512 * 2 ** 20  # bytes of one message: a check never sends or needs more
MAX_HEADER = 32 * 2 ** 20  # bytes of a message's JSON part
MAX_DEPTH = 24  # nesting of lists, tuples and dicts
MAX_ITEMS = 2_000_000  # values in one message, all levels together
_KINDS = "biufcUS"  # array dtypes that are plain data: truth values, numbers, text
_FRAME = struct.Struct(">QI")  # total length, JSON length


class ChannelError(Exception):
    """The other side sent something that is not a message of this channel, or went away."""


class Encoder:
    """Turns values into a JSON-able tree plus array bytes; numbers the lists and arrays it meets."""

    def __init__(self, known: list[Any] | None = None, callbacks: dict[int, Callable] | None = None):
        self.blobs: list[bytes] = []
        self.known = known  # objects the other side numbered (refs), or None
        self.sent: list[Any] = []  # lists and arrays numbered here, in order
        self.callbacks = callbacks  # where to register callables (None: callables are not sent)
        self.items = 0

    def encode(self, value: Any, depth: int = 0) -> Any:
        """Return the tree for ``value``."""
        self.items += 1
        if depth >= MAX_DEPTH or self.items > MAX_ITEMS:
            return {"other": "a value nested too deeply or too large to be checked"}
        if self.known is not None and isinstance(value, (list, np.ndarray)):
            for number, item in enumerate(self.known):
                if item is value:
                    return {"ref": number}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and type(value) is int:
            return value if abs(value) < 2 ** 63 else {"bigint": str(value)[:4000]}
        if type(value) is float:
            return value if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, np.generic) and value.dtype.kind in _KINDS:
            return {"scalar": value.dtype.str, "v": self.encode(value.item(), depth + 1)}
        if isinstance(value, np.ndarray):
            return self._array(value, depth)
        if type(value) in (list, tuple):
            if type(value) is list:
                self.sent.append(value)
            items = [self.encode(item, depth + 1) for item in (list.__iter__(value) if type(value) is list
                                                                 else tuple.__iter__(value))]
            return {"list": items} if type(value) is list else {"tuple": items}
        if type(value) is dict:
            return {"dict": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in dict.items(value)]}
        if isinstance(value, Foreign):
            return {"other": value.description, "generator": value.generator}
        if self.callbacks is not None and callable(value) and not isinstance(value, type):
            number = len(self.callbacks)
            self.callbacks[number] = value
            return {"callback": number}
        import types

        return {"other": describe(value), "generator": isinstance(value, types.GeneratorType)}

    def _array(self, value: np.ndarray, depth: int) -> Any:
        """Return the tree for an array (its bytes go into ``blobs``)."""
        counted = getattr(value, "_ch8_counter", None) is not None
        if value.dtype.kind == "O":
            if value.size > MAX_ITEMS:
                return {"other": describe(value)}
            items = [self.encode(item, depth + 1) for item in value.ravel()]
            self.sent.append(value)  # numbered after its items, as the other side rebuilds it
            return {"objects": list(value.shape), "items": items}
        if value.dtype.kind not in _KINDS or value.dtype.hasobject:
            return {"other": describe(value)}
        self.sent.append(value)
        plain = _contiguous(value)
        self.blobs.append(plain.tobytes())
        tree = {"array": len(self.blobs) - 1, "dtype": plain.dtype.str, "shape": list(plain.shape)}
        if counted:
            tree["counted"] = True
        return tree


class Decoder:
    """Rebuilds values from a tree and array bytes, refusing anything that is not plain data."""

    def __init__(self, blobs: list[memoryview], known: list[Any] | None = None,
                 callback: Callable[[int], Callable] | None = None):
        self.blobs, self.known, self.callback = blobs, known, callback
        self.received: list[Any] = []  # lists and arrays rebuilt here, numbered in order
        self.items = 0

    def decode(self, tree: Any, depth: int = 0) -> Any:
        """Return the value ``tree`` describes; raise ChannelError for anything else."""
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise ChannelError("a message nested too deeply or holding too many values")
        if tree is None or isinstance(tree, (bool, str, int, float)):
            return tree
        if isinstance(tree, list):
            raise ChannelError("a bare list in a message")
        if not isinstance(tree, dict) or len(tree) == 0:
            raise ChannelError("an unknown value in a message")
        if "ref" in tree:
            return self._ref(tree["ref"])
        if "float" in tree:
            return float({"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(tree["float"]), "nan"))
        if "bigint" in tree:
            text = str(tree["bigint"])
            return int(text) if text.lstrip("-").isdigit() and len(text) <= 4000 else Foreign("a whole number")
        if "scalar" in tree:
            dtype = _dtype(tree["scalar"])
            return dtype.type(self.decode(tree["v"], depth + 1))
        if "array" in tree:
            return self._array(tree)
        if "objects" in tree:
            shape = _shape(tree["objects"])
            items = [self.decode(item, depth + 1) for item in _list(tree.get("items"))]
            if len(items) != math.prod(shape):
                raise ChannelError("an object array whose items do not fill its shape")
            result = np.empty(len(items), dtype=object)
            result[:] = items if items else []
            result = result.reshape(shape)
            self.received.append(result)
            return result
        if "list" in tree:
            result: list = []
            self.received.append(result)
            result.extend(self.decode(item, depth + 1) for item in _list(tree["list"]))
            return result
        if "tuple" in tree:
            return tuple(self.decode(item, depth + 1) for item in _list(tree["tuple"]))
        if "dict" in tree:
            pairs = [_list(pair) for pair in _list(tree["dict"])]
            if any(len(pair) != 2 for pair in pairs):
                raise ChannelError("a dict entry that is not a pair")
            result = {}
            for key, value in pairs:
                key = self.decode(key, depth + 1)
                try:
                    result[key] = self.decode(value, depth + 1)
                except TypeError:  # an unhashable key: the dict cannot be rebuilt, only described
                    return Foreign(f"a dict with {len(pairs)} keys")
            return result
        if "other" in tree:
            return Foreign(str(tree["other"])[:300], generator=tree.get("generator") is True)
        if "callback" in tree and self.callback is not None:
            return self.callback(int(tree["callback"]))
        raise ChannelError("an unknown value in a message")

    def _ref(self, number: Any) -> Any:
        """Return the object the other side numbered ``number``."""
        if self.known is None or not isinstance(number, int) or not 0 <= number < len(self.known):
            raise ChannelError("a reference to nothing that was sent")
        return self.known[number]

    def _array(self, tree: dict) -> np.ndarray:
        """Return a new writable array from its blob, after checking dtype, shape and size agree."""
        number = tree["array"]
        if not isinstance(number, int) or not 0 <= number < len(self.blobs):
            raise ChannelError("an array without its bytes")
        dtype, shape = _dtype(tree.get("dtype")), _shape(tree.get("shape"))
        blob = self.blobs[number]
        if len(blob) != dtype.itemsize * math.prod(shape):
            raise ChannelError("an array whose bytes do not match its shape")
        result = np.frombuffer(blob, dtype=dtype).reshape(shape).copy()
        if tree.get("counted"):
            from helpers.grading import row_counter

            result = row_counter(result)
        self.received.append(result)
        return result


def _contiguous(value: np.ndarray) -> np.ndarray:
    """Return ``value`` as a plain C-ordered array (shape kept, 0-d arrays included)."""
    plain = value.view(np.ndarray)
    return plain if plain.flags.c_contiguous else plain.copy(order="C")


def _dtype(text: Any) -> np.dtype:
    """Return the plain dtype named by ``text``, or raise ChannelError."""
    if not isinstance(text, str) or len(text) > 12:
        raise ChannelError("an array of no known type")
    try:
        dtype = np.dtype(text)
    except TypeError:
        raise ChannelError("an array of no known type") from None
    if dtype.kind not in _KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ChannelError("an array of a type that is not plain data")
    return dtype


def _shape(value: Any) -> tuple[int, ...]:
    """Return ``value`` as an array shape, or raise ChannelError."""
    if not isinstance(value, list) or len(value) > 32 or not all(isinstance(n, int) and 0 <= n < 2 ** 40 for n in value):
        raise ChannelError("an array with a shape that is not one")
    return tuple(value)


def _list(value: Any) -> list:
    """Return ``value`` if it is a list, else raise ChannelError."""
    if not isinstance(value, list):
        raise ChannelError("a message with a list missing")
    return value


# -- write-backs: what happened to the objects the caller sent ------------------------------------

def after_tree(encoder: Encoder, numbered: list[Any]) -> list[Any]:
    """Return, for each numbered list or array, a tree of what it holds now (arrays as bytes, lists as items)."""
    trees = []
    for item in numbered:
        if isinstance(item, np.ndarray):
            counter = getattr(item, "_ch8_counter", None)
            plain = _contiguous(item)
            if plain.dtype.kind in _KINDS and not plain.dtype.hasobject:
                encoder.blobs.append(plain.tobytes())
                tree = {"array": len(encoder.blobs) - 1, "dtype": plain.dtype.str, "shape": list(plain.shape)}
            else:
                tree = {"other": "unchanged"}
            if counter is not None:
                tree["reads"] = int(counter[0])
            trees.append(tree)
        else:
            trees.append({"list": [encoder.encode(value, 1) for value in list.__iter__(item)]})
    return trees


def apply_after(decoder: Decoder, numbered: list[Any], trees: Any) -> None:
    """Put into the caller's own lists and arrays what the other side says they hold now."""
    trees = _list(trees)
    if len(trees) != len(numbered):
        raise ChannelError("an answer about the values sent that does not match them")
    for item, tree in zip(numbered, trees):
        if not isinstance(tree, dict):
            raise ChannelError("an unknown value in a message")
        if isinstance(item, np.ndarray):
            if "reads" in tree and getattr(item, "_ch8_counter", None) is not None:
                reads = tree["reads"]
                item._ch8_counter[0] = reads if isinstance(reads, int) and reads >= 0 else 0
            if "array" not in tree:
                continue
            new = decoder._array({key: tree[key] for key in ("array", "dtype", "shape")})
            decoder.received.pop()
            if item.flags.writeable and new.shape == item.shape and new.dtype == item.dtype:
                np.copyto(item.view(np.ndarray), new)
        elif "list" in tree:
            item[:] = [decoder.decode(value, 1) for value in _list(tree["list"])]


# -- framing --------------------------------------------------------------------------------------

class Connection:
    """One end of the channel: whole messages over a stream socket, each wait bounded."""

    def __init__(self, sock: socket.socket, timeout: float | None = None):
        self.sock = sock
        self.sock.settimeout(timeout)

    def send(self, header: dict, blobs: list[bytes] = ()) -> None:
        """Send one message (a JSON header and its array bytes)."""
        text = json.dumps({**header, "blobs": [len(b) for b in blobs]}, allow_nan=False).encode()
        total = len(text) + sum(len(b) for b in blobs)
        self.sock.sendall(_FRAME.pack(total, len(text)) + text)
        for blob in blobs:
            self.sock.sendall(blob)

    def receive(self, timeout: float | None = None) -> tuple[dict, list[memoryview]]:
        """Return the next message's header and array bytes; raise ChannelError for anything malformed."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        total, length = _FRAME.unpack(self._exactly(_FRAME.size))
        if total > MAX_MESSAGE or length > min(total, MAX_HEADER):
            raise ChannelError(f"a message of {total / 2 ** 20:.0f} MB, more than a check can take")
        body = memoryview(self._exactly(total))
        try:
            header = json.loads(bytes(body[:length]))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ChannelError("a message that is not JSON") from None
        if not isinstance(header, dict) or not isinstance(header.get("blobs"), list):
            raise ChannelError("a message without its parts")
        blobs, offset = [], length
        for size in header["blobs"]:
            if not isinstance(size, int) or size < 0 or offset + size > total:
                raise ChannelError("a message whose parts do not add up")
            blobs.append(body[offset:offset + size])
            offset += size
        return header, blobs

    def _exactly(self, count: int) -> bytearray:
        """Return exactly ``count`` bytes from the socket."""
        data = bytearray(count)
        view, got = memoryview(data), 0
        while got < count:
            try:
                n = self.sock.recv_into(view[got:], min(count - got, 1 << 24))
            except socket.timeout:
                raise ChannelError("no answer in time") from None
            except OSError as error:
                raise ChannelError(f"the connection broke ({error.strerror})") from None
            if n == 0:
                raise ChannelError("the other side went away")
            got += n
        return data

    def close(self) -> None:
        """Close the socket."""
        try:
            self.sock.close()
        except OSError:
            pass


def rng_state() -> dict:
    """Return NumPy's global (legacy) random state as a tree, with its key array as bytes to send."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"keys": keys.astype("<u4").tobytes().hex(), "pos": int(pos), "has_gauss": int(has_gauss),
            "gauss": float(gauss)}


def set_rng_state(tree: Any) -> None:
    """Set NumPy's global random state from ``tree``; raise ChannelError if it is not one."""
    try:
        keys = np.frombuffer(bytes.fromhex(tree["keys"]), dtype="<u4")
        state = ("MT19937", keys.astype(np.uint32), int(tree["pos"]), int(tree["has_gauss"]), float(tree["gauss"]))
        if len(keys) != 624 or not 0 <= state[2] <= 624 or not math.isfinite(state[4]):
            raise ValueError
        np.random.set_state(state)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ChannelError("a random state that is not one") from None
