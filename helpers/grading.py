"""Failure messages for the lab's checks that a beginner can read."""
from __future__ import annotations

import textwrap

_WIDTH = 88  # Jupyter and nbgrader's feedback pages do not wrap error output: wrap it here


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


def failure(call: str, error: BaseException, hint: str = "") -> CheckFailed:
    """Return a CheckFailed saying why ``call`` did not give an answer, in words a beginner can act on."""
    if isinstance(error, KeyboardInterrupt):
        text = f"{call} did not finish: it was stopped after running too long. Look for a loop that never ends."
    elif isinstance(error, NotImplementedError):
        text = f"{call} is not written yet: replace the `raise NotImplementedError(...)` line with your code."
    else:
        text = f"{call} failed with {type(error).__name__}: {error}"
    return CheckFailed(f"{text} {hint}".strip())
