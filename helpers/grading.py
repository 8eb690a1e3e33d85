"""What the lab's checks use: failure messages a beginner can read, and careful looks at an answer.

A check never compares a student's value directly: ``number()``, ``array()`` and ``parts()``
first turn it into plain floats (or say in words why they cannot), so that None, a string, a
generator or an object that claims to equal everything loses the check with a sentence, not a
traceback. ``call()`` runs the student's function and turns whatever it raises into such a
sentence, naming the line of their cell where it happened.
"""
from __future__ import annotations

import linecache
import math
import sys
import textwrap
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_WIDTH = 88  # Jupyter and nbgrader's feedback pages do not wrap error output: wrap it here
_LONG = 200  # longest piece of a student's own text or error quoted in a message


class CheckFailed(AssertionError):
    """A failed lab check; Jupyter shows only its message, not a traceback of the test code."""

    def _render_traceback_(self) -> list[str]:
        """Return the lines IPython prints instead of a traceback (keeps hidden checks hidden)."""
        paragraphs = str(self).splitlines() or [""]
        lines = [line for text in paragraphs for line in (textwrap.wrap(text, _WIDTH - 13) or [""])]
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


def _where(error: BaseException) -> str:
    """Return ' (line N of the cell with NAME(): `code`)' for the innermost cell frame below the check, or ''."""
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lineno))
        tb = tb.tb_next
    # Frames from the check's own cell (its helper functions included) may be hidden code: skip them.
    check_cell = frames[0][0].co_filename if frames else ""
    inside = [(code, line) for code, line in frames if _is_cell(code.co_filename) and code.co_filename != check_cell]
    if not inside:
        return ""
    code, line = inside[-1]
    source = linecache.getline(code.co_filename, line).strip()
    place = f"line {line} of the cell that defines {code.co_name}()" if code.co_name != "<module>" else f"line {line} of a cell"
    return f" (at {place}: `{_short(source)}`)" if source else f" (at {place})"


def failure(call: str, error: BaseException, hint: str = "") -> CheckFailed:
    """Return a CheckFailed saying why ``call`` did not give an answer, in words a beginner can act on."""
    if isinstance(error, CheckFailed):
        return error
    if isinstance(error, KeyboardInterrupt):
        text = f"{call} did not finish: it was stopped after running too long. Look for a loop that never ends."
    elif isinstance(error, NotImplementedError):
        text = f"{call} is not written yet: replace the `raise NotImplementedError(...)` line with your code."
    elif isinstance(error, SystemExit):
        text = (f"{call} tried to end the program (exit(), quit() or sys.exit()){_where(error)}. Remove that "
                "line: a function hands back its result with `return`.")
    elif isinstance(error, MemoryError):
        text = (f"{call} ran out of memory{_where(error)}: it asked for an array far too large. Check the "
                "shapes of the arrays it creates (np.zeros((10000, 10000)) alone needs 800 MB).")
    elif isinstance(error, RecursionError):
        text = f"{call} calls itself again and again without end (RecursionError){_where(error)}."
    elif isinstance(error, NameError):
        text = (f"{call} uses a name that does not exist here: {_short(error)}{_where(error)}. Check the "
                "spelling, and use the function's arguments rather than variables from other cells.")
    else:
        text = f"{call} failed with {type(error).__name__}: {_short(error)}{_where(error)}"
        if not text.endswith("."):
            text += "."
    return CheckFailed(f"{text} {hint}".strip())


def call(label: str, function: Callable[..., Any] | str, *args: Any, hint: str = "", **kwargs: Any) -> Any:
    """Return ``function(*args, **kwargs)``; anything it raises becomes a CheckFailed naming ``label``.

    ``function`` may be a name, looked up where the check runs: a function that was never defined
    (its cell not run yet) then gets a sentence too.
    """
    if isinstance(function, str):
        scope = sys._getframe(1).f_globals  # the notebook's variables, where the check cell runs
        if function not in scope:
            raise CheckFailed(f"{label} is not defined yet: run the cell where you wrote `def {function}(...)` "
                              "first, then this check again.")
        function = scope[function]
    if not callable(function):
        raise CheckFailed(f"{label} should be a function, but it is {describe(function)}. Define it with "
                          "`def ...(...):` and do not reuse its name for a value afterwards.")
    try:
        return function(*args, **kwargs)
    except BaseException as error:  # includes the interrupt of an endless loop and exit()
        raise failure(label, error, hint) from None


def describe(value: Any) -> str:
    """Return a short phrase for what ``value`` is ("None", "a list of 3 items", "an array of shape (5, 10)")."""
    if value is None:
        return "None (a function without `return` gives None)"
    if isinstance(value, (bool, np.bool_)):
        return f"the truth value {bool(value)}"
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        if math.isnan(number):
            return "nan (not a number)"
        return f"the number {number:.6g}" if math.isfinite(number) else f"{number} (infinite)"
    if isinstance(value, str):
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
        return f"a dict with {dict.__len__(value)} key(s)"
    if callable(value):
        return "a function (call it, with parentheses, to get its result)"
    # Anything else: name its type only; its own repr() or comparisons might not be trustworthy.
    return f"an object of type {type(value).__name__}"


def number(value: Any, what: str) -> float:
    """Return ``value`` as a finite float, or raise CheckFailed saying what ``what`` should be instead."""
    plain = (int, float, np.integer, np.floating)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, plain):
        shape = f" Reduce it to one number (np.sum, np.mean, ...)." if isinstance(value, np.ndarray) else ""
        raise CheckFailed(f"{what} should be one number, but it is {describe(value)}.{shape}")
    result = float(value)
    if math.isnan(result):
        raise CheckFailed(f"{what} is nan (not a number): somewhere a 0/0 or inf - inf happened. Look for a "
                          "division by a count that is 0, or values that grew without bound.")
    if math.isinf(result):
        raise CheckFailed(f"{what} is infinite: a division by 0, or values that grew without bound.")
    return result


def array(value: Any, what: str, shape: Sequence[int | None] | None = None) -> np.ndarray:
    """Return ``value`` as a float array (of ``shape``, None = any size), or raise CheckFailed saying why not."""
    if isinstance(value, (str, bytes, dict, types.GeneratorType)) or value is None or callable(value):
        raise CheckFailed(f"{what} should be an array of numbers, but it is {describe(value)}.")
    try:
        result = np.array(value, dtype=float)  # a copy: later changes to the student's array do not matter
    except (TypeError, ValueError, OverflowError):
        raise CheckFailed(f"{what} should be an array of numbers, but it is {describe(value)}, which cannot "
                          "be read as one.") from None
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
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = tuple(value)
    count = len(names)
    listing = ", ".join(names)
    if not isinstance(value, (tuple, list)) or len(value) != count:
        raise CheckFailed(f"{what} should return {count} values ({listing}), but it returned {describe(value)}.")
    return tuple(value)
