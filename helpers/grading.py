"""What the lab's checks use: failure messages a beginner can read, and careful looks at an answer.

A check never compares a student's value directly: ``number()``, ``array()`` and ``parts()``
first turn it into plain floats (or say in words why they cannot), so that None, a string, a
generator or an object that claims to equal everything loses the check with a sentence, not a
traceback. ``call()`` runs the student's function and turns whatever it raises into such a
sentence, naming the line of their cell where it happened.

While a notebook is autograded the checks run in the grader, not in the student's kernel, and
``call()`` reaches the student's functions across a data-only channel (instructor/checker.py); the
sentences are the same either way, because both ways go through ``explain()``.
"""
from __future__ import annotations

import contextlib
import linecache
import math
import numbers
import re
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

_WIDTH = 88  # Jupyter and nbgrader's feedback pages do not wrap error output: wrap it here
_LONG = 200  # longest piece of a student's own text or error quoted in a message


class CheckFailed(AssertionError):
    """A failed lab check; Jupyter shows only its message, not a traceback of the test code."""

    def _render_traceback_(self) -> list[str]:
        """Return the lines IPython prints instead of a traceback (keeps hidden checks hidden)."""
        paragraphs = str(self).splitlines() or [""]
        # Broken at spaces only: names and hyphenated words stay whole, as the student wrote them.
        wrapper = textwrap.TextWrapper(_WIDTH - 13, break_long_words=False, break_on_hyphens=False)
        lines = [line for text in paragraphs for line in (wrapper.wrap(text) or [""])]
        return ["\x1b[0;31mCheckFailed\x1b[0m: " + lines[0]] + ["             " + line for line in lines[1:]]


def check(condition: bool, message: str) -> None:
    """Raise CheckFailed with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def _short(text: str) -> str:
    """Return ``text`` on one line, cut to a readable length."""
    text = " ".join(str(text).split())
    return text if len(text) <= _LONG else text[:_LONG - 3] + "..."


def _is_cell(filename: str) -> bool:
    """Tell whether ``filename`` is a notebook cell's code (IPython gives each cell a file of its own)."""
    return "ipykernel_" in filename or filename.startswith("<ipython-input") or filename.startswith("<cell")


def _where(error: BaseException, check_cell: str) -> str:
    """Return ' (at line N of the cell that defines NAME(): `code`)' for the innermost student cell frame, or ''."""
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lineno))
        tb = tb.tb_next
    # Frames from the check's own cell (its helper functions included) may be hidden code: skip them.
    inside = [(code, line) for code, line in frames if _is_cell(code.co_filename) and code.co_filename != check_cell]
    if not inside:
        return ""
    code, line = inside[-1]
    source = linecache.getline(code.co_filename, line).strip()
    place = f"line {line} of the cell that defines {code.co_name}()" if code.co_name != "<module>" else f"line {line} of a cell"
    return f" (at {place}: `{_short(source)}`)" if source else f" (at {place})"


def _unnamed(text: str, check_cell: str) -> str:
    """Return ``text`` without the check cell's private names (``_run.<locals>.``, ``_fixed_mask``): hidden checks stay hidden."""
    text = re.sub(r"\b[\w.]*<locals>\.", "", text)  # Python names nested functions run.<locals>.inner
    private = set(re.findall(r"(?<![\w.])_[A-Za-z]\w*", "".join(linecache.getlines(check_cell))))
    return re.sub(r"(?<![\w.])_[A-Za-z]\w*", lambda name: name[0].lstrip("_") if name[0] in private else name[0], text)


_KINDS = ((KeyboardInterrupt, "interrupted"), (NotImplementedError, "not written"), (SystemExit, "exit"),
          (MemoryError, "memory"), (RecursionError, "recursion"), (NameError, "name"))
# Errors told apart by their text: NumPy's "ambiguous" advice (.any(), .all()) leads beginners from
# `if mask:` into `if mask.any():`, which then fails wherever mask is None; the messages say what to write.
_TEXTS = ((ValueError, "truth value of an array", "truth"), (AttributeError, "'NoneType' object has no attribute", "none"))


def error_facts(error: BaseException, check_cell: str = "") -> dict[str, str]:
    """Return what a message needs to know about ``error``: its kind, type name, text and the student's line."""
    if not check_cell:
        tb = error.__traceback__
        check_cell = tb.tb_frame.f_code.co_filename if tb is not None else ""
    kind = next((name for kinds, name in _KINDS if isinstance(error, kinds)), "error")
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 (an exception whose message itself fails)
        text = ""
    kind = next((name for kinds, words, name in _TEXTS if kind == "error" and isinstance(error, kinds) and words in text),
                kind)
    return {"kind": kind, "ename": type(error).__name__, "evalue": _short(_unnamed(text, check_cell)),
            "where": _where(error, check_cell)}


def explain(call: str, facts: dict[str, str], hint: str = "") -> CheckFailed:
    """Return a CheckFailed saying why ``call`` did not give an answer, in words a beginner can act on."""
    kind, where = facts.get("kind", "error"), str(facts.get("where", ""))[:2 * _LONG]
    ename, evalue = _short(facts.get("ename", "Exception"))[:60], _short(facts.get("evalue", ""))
    if kind == "interrupted":
        text = f"{call} did not finish: it was stopped after running too long. Look for a loop that never ends."
    elif kind == "not written":
        text = f"{call} is not written yet: replace the `raise NotImplementedError(...)` line with your code."
    elif kind == "exit":
        text = (f"{call} tried to end the program (exit(), quit() or sys.exit()){where}. Remove that "
                "line: a function hands back its result with `return`.")
    elif kind == "memory":
        text = (f"{call} ran out of memory{where}: it asked for an array far too large. Check the "
                "shapes of the arrays it creates (np.zeros((10000, 10000)) alone needs 800 MB).")
    elif kind == "recursion":
        text = f"{call} calls itself again and again without end (RecursionError){where}."
    elif kind == "name":
        text = (f"{call} uses a name that does not exist here: {evalue}{where}. "
                "Check the spelling, and use the function's arguments rather than variables from other cells.")
    elif kind == "truth":
        text = (f"{call} asked an `if` (or `and`, `or`, `not`) about a whole array{where}, but an `if` needs one "
                "True or False. To ask whether a value is there at all (is there a mask?), write "
                "`if mask is not None:`. NumPy's own advice, .any() or .all(), asks something else and fails "
                "where the value is None.")
    elif kind == "none":
        text = (f"{call} failed with AttributeError: {evalue}{where}: that value is None. When an argument may be "
                "None (mask, when there is no dropout), test it first: `if mask is not None:`. (None also comes "
                "from a function that has no `return`.)")
    else:
        text = f"{call} failed with {ename}: {evalue}{where}"
        if not text.endswith("."):
            text += "."
    failed = CheckFailed(f"{text} {hint}".strip())
    failed.kind = kind  # what happened, for the grader's record ("interrupted": it ran past the time limit)
    return failed


def failure(call: str, error: BaseException, hint: str = "", check_cell: str = "") -> CheckFailed:
    """Return a CheckFailed saying why ``call`` did not give an answer, in words a beginner can act on.

    ``check_cell`` is the file name of the check's cell (default: where ``error`` was caught).
    """
    if isinstance(error, CheckFailed):
        return error
    return explain(call, error_facts(error, check_cell), hint)


class Foreign:
    """A value that stayed in the student's process while grading: only what it is came across."""

    def __init__(self, description: str, generator: bool = False):
        self.description, self.generator = description, generator

    def __repr__(self) -> str:
        return f"<{self.description}>"


class RowCounter(np.ndarray):
    """An array that counts how often single rows are read from it (shared by its slices and rows)."""

    _ch8_counter: list[int] | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self._ch8_counter = getattr(obj, "_ch8_counter", None)

    def __getitem__(self, key: Any) -> Any:
        if self._ch8_counter is not None:
            self._ch8_counter[0] += 1
        return np.ndarray.__getitem__(self, key)

    def __iter__(self) -> Iterator[Any]:
        if self._ch8_counter is not None:
            self._ch8_counter[0] += len(self)
        return np.ndarray.__iter__(self)

    @property
    def reads(self) -> int:
        """How many single rows were read so far."""
        return self._ch8_counter[0] if self._ch8_counter is not None else 0


def row_counter(values: np.ndarray) -> RowCounter:
    """Return a view of ``values`` that counts the single rows read from it (``.reads``)."""
    view = np.asarray(values).view(RowCounter)
    view._ch8_counter = [0]
    return view


_ROUTE = threading.local()  # while the grader checks a notebook: how to reach the student's functions


@contextlib.contextmanager
def calls_through(remote: Callable[..., Any]) -> Iterator[None]:
    """Within this block (in this thread), call() reaches functions named by a string through ``remote``."""
    _ROUTE.remote = remote
    try:
        yield
    finally:
        _ROUTE.remote = None


def grading() -> bool:
    """Tell whether this code runs as a check in the grader (sealed autograding), not in a student's kernel."""
    return getattr(_ROUTE, "remote", None) is not None


HIDDEN_NOTE = "hidden check: it runs when your work is graded"
"""What a hidden check prints when a student runs it: its tests are not in the student's copy."""


def hidden_check_note() -> None:
    """Print HIDDEN_NOTE, except in the grader (feedback pages then show only the verdict)."""
    if not grading():
        print(HIDDEN_NOTE)


def not_defined(name: str) -> CheckFailed:
    """Return the CheckFailed for a function whose cell has not run yet."""
    return CheckFailed(f"{name}() is not defined yet: run the cell where you wrote `def {name}(...)` first "
                       "(if it shows an error, fix that first), then this check again.")


def not_a_function(label: str, value: Any) -> CheckFailed:
    """Return the CheckFailed for a name that holds something other than a function."""
    return CheckFailed(f"{label} should be a function, but it is {describe(value)}. Define it with "
                       "`def ...(...):` and do not reuse its name for a value afterwards.")


def a_generator(label: str, result: Any) -> CheckFailed:
    """Return the CheckFailed for a function that handed back a generator."""
    return CheckFailed(f"{label} returned {describe(result)}. Its code does not even run until someone "
                       "loops over it.")


def call(label: str, function: Callable[..., Any] | str, *args: Any, hint: str = "",
         notebook_vars: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """Return ``function(*args, **kwargs)``; anything it raises becomes a CheckFailed naming ``label``.

    ``function`` may be a name, looked up in the notebook: a function that was never defined (its
    cell not run yet) then gets a sentence too. ``notebook_vars`` gives notebook variables other
    values for the length of the call (to tell a function that reads them from one that does not).
    What the function writes to stderr (warnings included) is shown as ordinary output: nbgrader
    would take any stderr text as a failed check. A generator is refused at once: its code has not
    even run, so no later look at it is fair.
    """
    remote = getattr(_ROUTE, "remote", None)
    if isinstance(function, str) and remote is not None:
        result = remote(label, function, args, kwargs, notebook_vars or {}, hint)
    else:
        caller = sys._getframe(1)  # the check's cell: its globals are the notebook's variables
        if isinstance(function, str):
            if function not in caller.f_globals:
                raise not_defined(function)
            function = caller.f_globals[function]
        if not callable(function):
            raise not_a_function(label, function)
        saved = {name: caller.f_globals[name] for name in notebook_vars or {} if name in caller.f_globals}
        caller.f_globals.update(notebook_vars or {})
        try:
            with contextlib.redirect_stderr(sys.stdout):
                result = function(*args, **kwargs)
        except BaseException as error:  # includes the interrupt of an endless loop and sys.exit()
            raise failure(label, error, hint, check_cell=caller.f_code.co_filename) from None
        finally:
            for name in notebook_vars or {}:
                caller.f_globals.pop(name, None)
            caller.f_globals.update(saved)
    if isinstance(result, types.GeneratorType) or isinstance(result, Foreign) and result.generator:
        raise a_generator(label, result)
    return result


def describe(value: Any) -> str:
    """Return a short phrase for what ``value`` is ("None", "a list of 3 items", "an array of shape (5, 10)")."""
    if value is None:
        return "None (a function without `return` gives None)"
    if isinstance(value, Foreign):
        return value.description
    if isinstance(value, (bool, np.bool_)):
        return f"the truth value {bool(value)}"
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            number = float(value)
        except (OverflowError, TypeError, ValueError):
            return "a whole number too large to be a float"
        if math.isnan(number):
            return "nan (not a number)"
        return f"the number {number:.6g}" if math.isfinite(number) else "an infinite number"
    if isinstance(value, (str, bytes)):
        return f"the text {_short(repr(value))}"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"a 0-d array of dtype {value.dtype}"
        return f"an array of shape {value.shape} (dtype {value.dtype})"
    if isinstance(value, types.GeneratorType):
        return "a generator (the function uses `yield`; hand back the result with `return` instead)"
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        count = list.__len__(value) if isinstance(value, list) else tuple.__len__(value)
        return f"a {kind} of {count} item{'s' if count != 1 else ''}"
    if isinstance(value, dict):
        count = dict.__len__(value)
        return f"a dict with {count} key{'s' if count != 1 else ''}"
    if callable(value):
        return "a function (call it, with parentheses, to get its result)"
    # Anything else: name its type only; its own repr() or comparisons might not be trustworthy.
    return f"an object of type {type(value).__name__}"


def number(value: Any, what: str) -> float:
    """Return ``value`` as a finite float, or raise CheckFailed saying what ``what`` should be instead."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        if isinstance(value, np.ndarray) and value.size == 1:
            hint = " Take the one value out of it: float(...) or int(...)."
        elif isinstance(value, np.ndarray):
            hint = " Reduce it to one number (np.sum, np.mean, ...)."
        elif isinstance(value, (tuple, list)):
            hint = " Hand back only the number asked for, not all of them."
        else:
            hint = ""
        raise CheckFailed(f"{what} should be one number, but it is {describe(value)}.{hint}")
    try:
        result = float(value)
    except (OverflowError, TypeError, ValueError):
        raise CheckFailed(f"{what} should be a number of ordinary size, but it is {describe(value)}.") from None
    if math.isnan(result):
        raise CheckFailed(f"{what} is nan (not a number): somewhere 0 was divided by 0, or a value grew "
                          "without bound. Look for a division by a count that is 0.")
    if math.isinf(result):
        raise CheckFailed(f"{what} is infinite: a division by 0, or values that grew without bound.")
    return result


def _real(item: Any) -> bool:
    """Tell whether ``item`` is one plain real number (a truth value counts as 0 or 1)."""
    return isinstance(item, (numbers.Real, np.integer, np.floating, np.bool_))


def _plain(value: Any, depth: int = 0) -> Any:
    """Return ``value`` rebuilt from arrays, numbers and plain lists only; raise TypeError naming anything else.

    numpy would ask any other object for its length and items, however it answers: an object that
    says it holds itself makes np.array() fill the memory.
    """
    if isinstance(value, np.ndarray) or _real(value):
        return value
    if isinstance(value, (list, tuple)) and depth < 8:
        return [_plain(item, depth + 1) for item in (list.__iter__(value) if isinstance(value, list)
                                                      else tuple.__iter__(value))]
    raise TypeError(describe(value))


def array(value: Any, what: str, shape: Sequence[int | None] | None = None) -> np.ndarray:
    """Return ``value`` as a float array (of ``shape``, None = any size), or raise CheckFailed saying why not."""
    wrong = f"{what} should be an array of numbers, but it is {describe(value)}"
    try:
        plain = _plain(value)
    except TypeError as odd:
        raise CheckFailed(f"{wrong}." if str(odd) == describe(value) else f"{wrong}, holding {odd}.") from None
    try:
        raw = np.array(plain)  # a copy: later changes to the student's array do not matter
    except (TypeError, ValueError, OverflowError, MemoryError):  # ragged lists, huge whole numbers
        raise CheckFailed(f"{wrong}, which cannot be read as one.") from None
    if raw.dtype.kind in "US":
        raise CheckFailed(f"{wrong}, holding text, not numbers.")
    if raw.dtype.kind == "O":  # e.g. an object array: only plain numbers count (None would turn into nan)
        odd = [item for item in raw.flat if not _real(item)][:1]
        if odd:
            raise CheckFailed(f"{wrong}, holding {describe(odd[0])}.")
    elif raw.dtype.kind not in "biuf":
        raise CheckFailed(f"{wrong}, holding {raw.dtype} values, not real numbers.")
    try:
        result = raw.astype(float)
    except (OverflowError, TypeError, ValueError):
        raise CheckFailed(f"{wrong}, which cannot be read as one.") from None
    if shape is not None and (result.ndim != len(shape) or any(
            want is not None and have != want for have, want in zip(result.shape, shape))):
        wanted = "(" + ", ".join("any" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
        raise CheckFailed(f"{what} should have shape {wanted}, but it has shape {result.shape}.")
    if not np.all(np.isfinite(result)):
        kind = "nan (not a number)" if np.any(np.isnan(result)) else "infinite"
        raise CheckFailed(f"{what} holds {kind} values: look for a division by 0, or values that grew "
                          "without bound.")
    return result


def parts(value: Any, names: Sequence[str], what: str) -> tuple:
    """Return the items of a tuple/list ``value`` with one item per name, or raise CheckFailed saying why not."""
    items = value
    if isinstance(value, np.ndarray) and value.ndim == 1:
        items = tuple(value)
    elif isinstance(value, tuple):
        items = tuple(tuple.__iter__(value))  # the plain items, whatever a subclass claims about itself
    elif isinstance(value, list):
        items = tuple(list.__iter__(value))
    if not isinstance(items, tuple) or len(items) != len(names):
        raise CheckFailed(f"{what} should return {len(names)} values ({', '.join(names)}), but it returned "
                          f"{describe(value)}. Hand them back together: `return {', '.join(names)}`.")
    return items
