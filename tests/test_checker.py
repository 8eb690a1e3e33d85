"""The sealed check, piece by piece: the data-only channel, the agent, and the verdict decided in the grader.

The agent (instructor/agent.py) runs here in a thread with a namespace of its own, as it runs in a
kernel while grading; the checks run in instructor.checker.CheckRun exactly as GradingExecute runs
them. Whatever the student's side does, the verdict depends only on what its functions return.
"""
from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from helpers.grading import Foreign, row_counter
from instructor.agent import serve
from instructor.channel import (MAX_MESSAGE, ChannelError, Connection, Decoder, Encoder, after_tree, apply_after,
                                rng_state, set_rng_state)
from instructor.checker import CheckRun, notebook_namespace
from instructor.verdicts import Verdict, outputs

SETUP = "import numpy as np\nfrom helpers import call, check, number, parts, array, describe\n"


def _check(source: str, student: dict, setup: str = SETUP, timeout: float = 20):
    """Run ``source`` as a sealed check against the functions in ``student``; return its outcome."""
    folder = Path(tempfile.mkdtemp(prefix="ch8-check-test-"))  # short: a Unix socket's path is at most 107 bytes
    try:
        run = CheckRun("test-check", source, notebook_namespace([setup]), folder, timeout)
        kernel = threading.Thread(target=_quietly, args=(serve, str(run.path), student))
        kernel.start()
        kernel.join(timeout + 5)
        return run.finish()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _quietly(function, *args) -> None:
    """Run ``function``; a broken channel on the student's side is the student's own problem here."""
    try:
        function(*args)
    except (ChannelError, OSError):
        pass


def _round_trip(value, known=None):
    """Return ``value`` encoded and decoded, as the channel carries it."""
    encoder = Encoder(known=known)
    tree = encoder.encode(value)
    return Decoder([memoryview(b) for b in encoder.blobs], known=known).decode(tree)


@pytest.mark.parametrize("value", [None, True, 3, -2.5, "text", float("inf"), [1, [2.0, "x"]], (1, 2),
                                   {"a": 1, 2: [3]}, np.float32(1.5), np.int64(7), np.bool_(True)])
def test_plain_values_cross_unchanged(value):
    """Numbers, text, None, lists, tuples, dicts and NumPy scalars arrive as they left, types included."""
    back = _round_trip(value)
    assert back == value and type(back) is type(value)


def test_arrays_cross_with_dtype_and_shape_and_are_writable_copies():
    """Arrays of plain types arrive bit for bit, as new writable arrays (the receiver owns them)."""
    for array in (np.arange(12.0).reshape(3, 4), np.array([True, False]), np.array(["ab", "c"]),
                  np.zeros((0, 5)), np.array(7, dtype=np.uint8)):
        back = _round_trip(array)
        assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)
        assert back.flags.writeable and back is not array


def test_what_is_not_data_arrives_as_a_description_only():
    """A generator, an object of the student's own class, a function: described, never rebuilt."""
    class Sneaky:
        def __eq__(self, other):
            return True

    for value, words in ((x for x in [1]), "generator"), (Sneaky(), "object of type Sneaky"), (print, "function"):
        back = _round_trip(value)
        assert isinstance(back, Foreign) and words in back.description


def test_identity_and_changes_in_place_travel_back():
    """Arrays and lists the caller sent come back changed in place, and a returned one is the caller's own object."""
    weights = [np.zeros(3), np.ones((2, 2))]
    encoder = Encoder()
    tree = encoder.encode((weights,))
    decoder = Decoder([memoryview(b) for b in encoder.blobs])
    (theirs,) = decoder.decode(tree)
    theirs[0] += 5  # the student's function changes the arrays it was given
    theirs.append(np.full(1, 9.0))  # and the list
    reply = Encoder(known=decoder.received)
    value_tree = reply.encode([theirs[1], theirs[1].copy()])
    after = after_tree(reply, decoder.received)
    back = Decoder([memoryview(b) for b in reply.blobs], known=encoder.sent)
    value = back.decode(value_tree)
    apply_after(back, encoder.sent, after)
    assert np.all(weights[0] == 5) and len(weights) == 3 and weights[2][0] == 9
    assert value[0] is weights[1] and value[1] is not weights[1]


@pytest.mark.parametrize("tree, blobs", [
    ({"array": 0, "dtype": "|O", "shape": [1]}, [b"12345678"]),  # objects: never
    ({"array": 0, "dtype": "<f8", "shape": [2]}, [b"12345678"]),  # bytes that do not fill the shape
    ({"array": 3, "dtype": "<f8", "shape": [1]}, [b"12345678"]),  # bytes that are not there
    ({"array": 0, "dtype": "<f8", "shape": [-1]}, [b"12345678"]),  # a shape that is not one
    ({"array": 0, "dtype": "V8", "shape": [1]}, [b"12345678"]),  # raw records
    ({"ref": 0}, []),  # a reference to nothing that was sent
    ({"pickle": "gASV"}, []),  # anything else
    ([1, 2], []),  # a bare list
])
def test_anything_but_plain_data_is_refused(tree, blobs):
    """The receiver builds values from JSON and checked bytes only: everything else is a broken channel."""
    with pytest.raises(ChannelError):
        Decoder([memoryview(b) for b in blobs]).decode(tree)


def test_nesting_and_size_are_bounded():
    """A value nested without end or a message larger than any check needs is refused, not followed."""
    tree: dict = {"list": []}
    for _ in range(100):
        tree = {"list": [tree]}
    with pytest.raises(ChannelError, match="nested too deeply"):
        Decoder([]).decode(tree)
    deep: list = []
    for _ in range(100):
        deep = [deep]
    assert "too deeply" in str(_round_trip(deep))  # the sender describes what it will not send
    left, right = socket.socketpair()
    right.sendall((MAX_MESSAGE + 1).to_bytes(8, "big") + (10).to_bytes(4, "big"))
    with pytest.raises(ChannelError, match="more than a check can take"):
        Connection(left, timeout=5).receive()


def test_the_random_state_travels_and_a_bad_one_is_refused():
    """NumPy's global random state goes both ways, so the book's seeds work; garbage is not a state."""
    np.random.seed(3)
    state = rng_state()
    np.random.random()
    set_rng_state(state)
    np.random.seed(3)
    expected = np.random.random()
    set_rng_state(state)
    assert np.random.random() == expected
    with pytest.raises(ChannelError):
        set_rng_state({"keys": "00", "pos": 0, "has_gauss": 0, "gauss": 0.0})


def test_a_right_answer_passes_and_prints_in_the_grader():
    """The check calls the student's function by name across the channel; its print is the grader's."""
    student = {"double": lambda x: 2 * x}
    outcome = _check('value = number(call("double(2)", "double", 2), "double(2)")\n'
                     'check(value == 4, "wrong")\nprint("double: OK")\n', student)
    assert outcome.passed and outcome.printed == "double: OK\n"


def test_a_wrong_answer_fails_with_the_checks_own_sentence():
    """The message is the check's, decided in the grader."""
    outcome = _check('check(call("f()", "f") == 1, "f() should return 1.")\n', {"f": lambda: 2})
    assert not outcome.passed and outcome.evalue == "f() should return 1." and outcome.why == "check failed"


def test_the_students_process_cannot_change_the_verdict_by_changing_its_own_checks():
    """Editing helpers.check in place on the student's side changes nothing: the check is not there."""
    import helpers.grading

    def cheat():
        original = helpers.grading.check.__code__
        helpers.grading.check.__code__ = (lambda *a, **k: None).__code__  # would silence every check in its process
        try:
            return 0
        finally:
            helpers.grading.check.__code__ = original  # this test shares the process: put it back

    outcome = _check('check(call("cheat()", "cheat") == 1, "cheat() should return 1.")\n', {"cheat": cheat})
    assert not outcome.passed


def test_errors_missing_functions_and_generators_become_sentences():
    """What the student's side raised, or lacks, is put into the same words as when run in the notebook."""
    def broken(x):
        return x / 0

    def lazy():
        yield 1

    outcome = _check('call("broken(1)", "broken", 1)\n', {"broken": broken})
    assert "broken(1) failed with ZeroDivisionError" in outcome.evalue
    assert "not defined yet" in _check('call("gone()", "gone")\n', {}).evalue
    assert "should be a function" in _check('call("x", "x")\n', {"x": 3}).evalue
    assert "generator" in _check('call("lazy()", "lazy")\n', {"lazy": lazy}).evalue


def test_callbacks_arrays_in_place_and_identity_work_across_the_channel():
    """nb02's shape of check: the check's own function is called back and changes the student's arrays."""
    def early(weights, train, score):
        train(weights)
        best = [w.copy() for w in weights]
        return best, score(weights), weights

    source = ('live = [np.zeros(3)]\n'
              'def train(ws):\n    for w in ws:\n        w += 1\n'
              'best, s, same = call("early()", "early", live, train, lambda ws: float(ws[0][0]))\n'
              'check(s == 1.0 and live[0][0] == 1.0 and best[0][0] == 1.0, "values")\n'
              'check(same is live and best[0] is not live[0], "identity")\n')
    outcome = _check(source, {"early": early})
    assert outcome.passed, outcome.evalue


def test_notebook_variables_can_be_swapped_for_one_call():
    """call(..., notebook_vars=...) gives the student's globals other values while the function runs, then puts them back."""
    namespace: dict = {"data": np.ones(3)}
    exec("def total():\n    return float(data.sum())\n", namespace)
    outcome = _check('a = call("total()", "total", notebook_vars={"data": np.ones(5)})\n'
                     'b = call("total()", "total")\ncheck(a == 5 and b == 3, f"{a} {b}")\n', namespace)
    assert outcome.passed, outcome.evalue


def test_row_reads_are_counted_on_the_students_side_and_reported():
    """row_counter() arrays keep counting across the channel (nb01's vectorised check)."""
    def loop(images):
        return sum(float(row.sum()) for row in images)

    outcome = _check('x = row_counter(np.ones((20, 3)))\ncall("loop()", "loop", x)\n'
                     'check(x.reads >= 20, f"{x.reads}")\n', {"loop": loop}, SETUP + "from helpers import row_counter\n")
    assert outcome.passed, outcome.evalue
    assert row_counter(np.ones((2, 2))).reads == 0


def test_a_student_side_that_never_serves_or_hangs_up_ends_the_check_in_bounded_time():
    """No connection, or a connection that says nothing: the check fails with a reason, it does not wait forever."""
    folder = Path(tempfile.mkdtemp(prefix="ch8-check-test-"))
    run = CheckRun("silent", 'call("f()", "f")\n', notebook_namespace([SETUP]), folder, 2)
    outcome = run.finish(wait=5)
    assert not outcome.passed and outcome.why == "no answer"
    run = CheckRun("mute", 'call("f()", "f")\n', notebook_namespace([SETUP]), folder, 2)
    mute = socket.socket(socket.AF_UNIX)
    mute.connect(str(run.path))
    time.sleep(1)  # connected, and then says nothing
    outcome = run.finish(wait=10)
    assert not outcome.passed and outcome.why == "channel"
    mute.close()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_verdicts_outputs_score_what_the_verdict_says():
    """nbgrader reads an error output as 0 and a shown value as partial credit: outputs are made from the verdict."""
    import nbformat
    from nbgrader.utils import determine_grade

    shown = [nbformat.v4.new_output("execute_result", data={"text/plain": "7"}, execution_count=1),
             nbformat.v4.new_output("stream", name="stderr", text="warning"),
             nbformat.v4.new_output("error", ename="X", evalue="y", traceback=[])]
    for verdict, points in ((Verdict("c", 2, 2, "passed"), 2), (Verdict("c", 0, 2, "check failed", "wrong"), 0)):
        cell = nbformat.v4.new_code_cell(metadata={"nbgrader": {"grade": True, "points": 2, "grade_id": "c",
                                                                "solution": False, "locked": True}})
        cell.outputs = outputs(verdict, [nbformat.from_dict(dict(o)) for o in shown])
        assert determine_grade(cell)[0] == points


def test_a_hidden_check_that_fails_in_its_own_code_shows_one_sentence_on_the_feedback_page():
    """An error in a hidden check's own code (not a CheckFailed) reaches the page as one sentence, no name of the check."""
    import nbformat

    from instructor.nbgrader_steps import HideHiddenChecks

    source = ('"""Check something hidden"""\nimport numpy as np\n### BEGIN HIDDEN TESTS\n'
              '_hidden_total = undefined_name + 1\n### END HIDDEN TESTS\n')
    outcome = _check(source, {})
    assert outcome.why == "check error" and outcome.ename == "NameError"
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "points": 1, "grade_id": "h",
                                                                    "solution": False, "locked": True}})
    cell.outputs = outputs(Verdict("h", 0, 1, outcome.why, outcome.evalue), [], outcome.ename, outcome.traceback)
    page, _ = HideHiddenChecks().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    (shown,) = page.cells[0].outputs
    assert shown.ename == "CheckFailed" and "This hidden check stopped with an error (NameError)" in shown.evalue
    assert "_hidden_total" not in str(shown)
