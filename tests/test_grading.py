"""The messages a student sees when a check fails."""
from __future__ import annotations

import pytest

from helpers import CheckFailed, check, failure


def test_check_passes_silently_and_fails_with_the_message():
    """check() returns on success and raises CheckFailed (an AssertionError) with the given words."""
    check(True, "never shown")
    with pytest.raises(AssertionError, match="divide by len"):
        check(False, "divide by len(images)")


def test_rendered_failure_is_only_the_message_wrapped_for_reading():
    """What Jupyter prints: a CheckFailed line and the message, wrapped, with no test code."""
    words = "The surviving activations were not rescaled: multiply the rest by 2 " * 3
    lines = CheckFailed(words)._render_traceback_()
    assert lines[0].startswith("\x1b[0;31mCheckFailed\x1b[0m: The surviving")
    assert len(lines) > 1 and all(len(line) <= 100 for line in lines)
    assert " ".join(line.strip() for line in lines).replace("\x1b[0;31mCheckFailed\x1b[0m: ", "") == words.strip()


@pytest.mark.parametrize("error, words", [
    (KeyboardInterrupt(), "did not finish"),
    (NotImplementedError("x"), "not written yet"),
    (ValueError("shapes (3,4) and (5,6) not aligned"), "failed with ValueError: shapes"),
])
def test_failure_explains_why_a_call_gave_no_answer(error, words):
    """An interrupted loop, an unwritten placeholder and a crash each get their own explanation."""
    message = str(failure("evaluate()", error, "Use the arguments."))
    assert message.startswith("evaluate()") and words in message and message.endswith("Use the arguments.")
