"""The messages a student sees when a check fails."""
from __future__ import annotations

import linecache
import sys

import numpy as np
import pytest

from helpers import CheckFailed, array, call, check, describe, failure, hidden_check_note, number, parts
from helpers.grading import HIDDEN_NOTE, calls_through, error_facts, explain


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


# -- the careful looks at an answer: call, describe, number, array, parts --------------------------

class Agreeable:
    """Equal to everything, and claims to hold itself twice: np.array() of it would fill the memory."""

    def __eq__(self, other):
        return True

    __lt__ = __gt__ = __le__ = __ge__ = __ne__ = __eq__

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return self


def _cell(name: str, source: str, **names) -> dict:
    """Run ``source`` as if it were notebook cell ``name`` (a file linecache can quote); return its globals."""
    filename = f"<cell-{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    scope = {"np": np, **names}
    exec(compile(source, filename, "exec"), scope)
    return scope


def test_call_turns_a_crash_into_a_sentence_naming_the_students_line_only():
    """The line quoted is the student's, never the check's own (hidden) code; its private names are dropped."""
    student = _cell("student", "def evaluate(images, fake):\n    return fake(images) + 1\n")
    check_cell = _cell("check", "def _fake_run(x):\n    raise TypeError('_fake_run() wants more')\n\n\n"
                       "def run_check():\n    return call('evaluate()', 'evaluate', 3, _fake_run)\n",
                       call=call, evaluate=student["evaluate"])
    with pytest.raises(CheckFailed) as caught:
        check_cell["run_check"]()
    message = str(caught.value)
    assert message == ("evaluate() failed with TypeError: fake_run() wants more (at line 2 of the cell that "
                       "defines evaluate(): `return fake(images) + 1`).")


def test_call_by_name_says_when_the_function_is_missing_and_refuses_a_generator():
    """A name not defined yet and a function that uses yield each get a sentence, not a NameError."""
    with pytest.raises(CheckFailed, match=r"^forward\(\) is not defined yet: run the cell"):
        call("forward(..., training=True)", "forward")
    scope = _cell("yields", "def forward():\n    yield 1\n")
    with pytest.raises(CheckFailed, match="returned a generator .* does not even run"):
        call("forward()", scope["forward"])


def _hidden_delta_with(test: str) -> dict:
    """Return a notebook cell's globals defining hidden_delta() whose mask test is ``test`` (e.g. `if mask:`)."""
    return _cell(f"delta_{len(test)}", "def hidden_delta(delta, mask):\n"
                 f"    {test}\n        delta = delta * mask\n    return delta\n")


def test_if_mask_on_an_array_is_told_what_to_write_not_numpys_advice():
    """`if mask:` fails with NumPy's "ambiguous ... a.any() or a.all()"; the sentence says `is not None`
    instead, quotes the student's line, and does not pass on the advice that crashes where mask is None."""
    scope = _hidden_delta_with("if mask:")
    with pytest.raises(CheckFailed) as caught:
        call("hidden_delta(delta, mask)", scope["hidden_delta"], np.ones(3), np.array([1, 0, 1]))
    message = str(caught.value)
    assert "write `if mask is not None:`" in message and "`if mask:`" in message
    assert "Use a.any() or a.all()" not in message and "fails where the value is None" in message
    assert _hidden_delta_with("if mask is not None:")["hidden_delta"](np.ones(3), None).tolist() == [1, 1, 1]


def test_mask_any_without_a_mask_is_told_to_test_for_none_first():
    """NumPy's advice followed, `if mask.any():`, meets mask=None: the sentence names the None and the fix."""
    scope = _hidden_delta_with("if mask.any():")
    with pytest.raises(CheckFailed) as caught:
        call("hidden_delta(delta, None)", scope["hidden_delta"], np.ones(3), None)
    message = str(caught.value)
    assert "'NoneType' object has no attribute 'any'" in message and "`if mask.any():`" in message
    assert "test it first: `if mask is not None:`" in message


def test_other_value_and_attribute_errors_keep_their_own_words():
    """Only NumPy's ambiguous truth value and an attribute of None get the mask sentences."""
    facts = error_facts(ValueError("shapes (3,4) and (5,6) not aligned"))
    assert facts["kind"] == "error"
    assert str(explain("f()", facts)) == "f() failed with ValueError: shapes (3,4) and (5,6) not aligned."
    assert error_facts(AttributeError("'list' object has no attribute 'shape'"))["kind"] == "error"


def test_a_hidden_check_says_what_it_is_to_students_and_nothing_in_the_grader(capsys):
    """Run by a student, a hidden check prints its one line; run by the grader (calls_through), nothing."""
    hidden_check_note()
    assert capsys.readouterr().out == HIDDEN_NOTE + "\n"
    with calls_through(lambda *args: None):
        hidden_check_note()
    assert capsys.readouterr().out == ""


def test_call_shows_what_the_function_writes_to_stderr_as_ordinary_output(capsys):
    """nbgrader takes any stderr text as a failed check: a student's warning must not cost points."""
    def noisy():
        print("a warning", file=sys.stderr)
        return 2

    assert call("noisy()", noisy) == 2
    printed = capsys.readouterr()
    assert "a warning" in printed.out and printed.err == ""


@pytest.mark.parametrize("value, words", [
    (None, "None (a function without `return` gives None)"),
    (float("inf"), "an infinite number"),
    ({"a": 1}, "a dict with 1 key"),
    (Agreeable(), "an object of type Agreeable"),
    (10 ** 400, "a whole number too large to be a float"),
])
def test_describe_names_what_a_value_is_without_trusting_it(value, words):
    """describe() never calls the value's own repr or len: an odd object cannot fool or crash it."""
    assert describe(value) == words


@pytest.mark.parametrize("value, words", [
    (None, "should be one number, but it is None"),
    ("0.14", "should be one number, but it is the text '0.14'"),
    (np.zeros(5), "an array of shape (5,) (dtype float64). Reduce it to one number"),
    (np.array([2]), "Take the one value out of it"),
    ((0.1, 0.2), "a tuple of 2 items. Hand back only the number asked for"),
    (True, "the truth value True"),
    (Agreeable(), "an object of type Agreeable"),
    (float("nan"), "is nan (not a number)"),
    (-float("inf"), "is infinite"),
    (10 ** 400, "should be a number of ordinary size"),
])
def test_number_refuses_anything_but_one_finite_number(value, words):
    """One number comes back as a float; everything else gets a sentence saying what it is."""
    with pytest.raises(CheckFailed) as caught:
        number(value, "The accuracy")
    assert str(caught.value).startswith("The accuracy") and words in str(caught.value)


def test_number_accepts_plain_and_numpy_numbers():
    """int, float, numpy scalars and 0-d arrays are numbers."""
    assert [number(v, "x") for v in (3, 0.5, np.float32(0.25), np.int64(7), np.array(1.5))] == [3.0, 0.5, 0.25, 7.0, 1.5]


@pytest.mark.parametrize("value, words", [
    (None, "should be an array of numbers, but it is None"),
    ([1.0, None], "a list of 2 items, holding None"),
    (["1", "2"], "holding the text '1'"),
    (np.array(["a"]), "holding text, not numbers"),
    ([[1, 2], [3]], "which cannot be read as one"),
    (np.array([1j]), "holding complex128 values"),
    (Agreeable(), "but it is an object of type Agreeable."),
    ([Agreeable(), 1], "holding an object of type Agreeable"),
    (np.zeros((3, 2)), "should have shape (2, 3), but it has shape (3, 2)"),
    (np.array([[0.0, np.nan, 1.0], [0, 0, 0]]), "holds nan (not a number) values"),
    (np.full((2, 3), np.inf), "holds infinite values"),
])
def test_array_refuses_what_is_not_an_array_of_real_numbers(value, words):
    """Text, None, ragged lists, complex numbers, odd objects, wrong shapes, nan and inf: each in words."""
    with pytest.raises(CheckFailed) as caught:
        array(value, "layer_1", shape=(2, 3))
    assert words in str(caught.value)


def test_array_returns_a_float_copy_of_lists_masks_and_arrays():
    """Lists, truth-value masks and integer arrays become float arrays the student can no longer change."""
    mask = np.array([[True, False, True], [False, True, False]])
    assert array(mask, "mask", shape=(2, None)).tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    assert array([(1, 2), np.array([3, 4])], "x").dtype == float
    original = np.ones(3)
    copy = array(original, "x")
    original[0] = 5
    assert copy[0] == 1


def test_parts_unpacks_tuples_lists_and_flat_arrays_and_explains_the_rest():
    """A tuple subclass cannot lie about its items; a dict or None gets a sentence with the fix."""
    class Lying(tuple):
        def __len__(self):
            return 2

    assert parts([0.5, 1], ["error", "accuracy"], "evaluate()") == (0.5, 1)
    assert parts(np.array([0.5, 1.0]), ["error", "accuracy"], "evaluate()") == (0.5, 1.0)
    with pytest.raises(CheckFailed, match=r"returned a tuple of 3 items"):
        parts(Lying((1, 2, 3)), ["error", "accuracy"], "evaluate()")
    with pytest.raises(CheckFailed) as caught:
        parts({"error": 1, "accuracy": 2}, ["error", "accuracy"], "evaluate()")
    assert str(caught.value) == ("evaluate() should return 2 values (error, accuracy), but it returned a dict with "
                                 "2 keys. Hand them back together: `return error, accuracy`.")
