"""The integrity scan on code alone: what it flags, and that honest answers raise nothing."""
from __future__ import annotations

from pathlib import Path

import pytest

from instructor.course import ROOT, solution_answers
from instructor.integrity import Flag, given_names, scan_source, table
from instructor.nbgrader_steps import death_reason, unreadable_reason
from mutants import ALTERNATIVES, MUTANTS

GIVEN = {"relu", "relu2deriv", "train_one_epoch", "images", "test_images"}  # as in notebook 02


@pytest.mark.parametrize("code, why", [
    ("import helpers\nhelpers.check = lambda c, m: None", "rebinds helpers.check"),
    ("from helpers import check\ncheck = print", "rebinds check, which the checks import from helpers"),
    ("import helpers.grading as g\ng.CheckFailed = Exception", "rebinds helpers.grading.CheckFailed"),
    ("np.isclose = lambda *a, **k: True", "rebinds numpy.isclose"),
    ("import numpy\nnumpy.testing.assert_allclose = print", "rebinds numpy.testing.assert_allclose"),
    ("import builtins\nbuiltins.len = lambda x: 0", "rebinds builtins.len"),
    ("__builtins__['abs'] = print", "changes builtins[...]"),
    ("setattr(np, 'allclose', print)", "setattr() changes an attribute by name on numpy"),
    ("import sys\nsys.modules['helpers'] = None", "sys.modules"),
    ("import sys\nsys.settrace(None)", "tracer"),
    ("get_ipython().showtraceback = print", "get_ipython()"),
    ("ip = get_ipython()\nip.set_custom_exc((Exception,), print)", "intercepts errors"),
    ("import os\nos._exit(0)", "os._exit"),
    ("exit()", "exit() ends the notebook's Python process"),
    ("exec('x' + '= 1')", "runs code built at run time"),
    ("exec('import helpers; helpers.check = 1')", "inside exec/eval: rebinds helpers.check"),
    ("eval(compile(src, 'f', 'exec'))", "runs code built at run time"),
    ("import gc\nobjects = gc.get_objects()", "gc"),
    ("().__class__.__mro__[1].__subclasses__()", "searches all classes"),
    ("def evaluate(a, b, c, d):\n    import inspect\n    return inspect.stack()[1].frame.f_globals", "the calling code's variables"),
    ("!rm -rf ~", "runs a shell command"),
    ("def relu(x):\n    return x", "redefines relu()"),
    ("test_images = test_images[:10]", "redefines test_images"),
    ("import ctypes", "ctypes"),
    ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)", "signal"),
    ("open('/etc/passwd').read()", "open() reads or writes a file"),
])
def test_scan_flags_code_that_touches_grading(code, why):
    """Each way of reaching the grading machinery is found, with its line and a reason in words."""
    found = scan_source(code, GIVEN)
    assert any(why in reason for _, reason in found), found
    assert all(line >= 1 for line, _ in found)


def test_scan_names_the_right_line():
    """The flag points at the line that does it, not at the cell."""
    code = "def evaluate(a, b, c, d):\n    return 0.0, 0.0\n\n\nimport numpy as np\nnp.allclose = print\n"
    assert [line for line, _ in scan_source(code)] == [6]


@pytest.mark.parametrize("code", [
    "def evaluate(images, labels, w, v):\n    relu = lambda x: x * (x > 0)\n    images = images * 1\n    return 0.0, 0.0",
    "import numpy as np\nmask = np.random.randint(2, size=(3, 4))\nnp.random.seed(0)",
    "best = [w.copy() for w in weights]\nscores = []\nscores.append(np.mean(x))",
    "import sys\nprint('debug', file=sys.stderr)",
])
def test_scan_leaves_ordinary_code_alone(code):
    """Local variables, random draws and printing are nobody's business."""
    assert scan_source(code, GIVEN) == []


def test_every_solution_mutant_and_alternative_answer_is_clean():
    """The answers graded in the pipeline tests (right, typically wrong, right another way) raise no flag."""
    answers = [(nb, code) for nb, cells in solution_answers(ROOT).items() for code in cells.values()]
    answers += [(m.notebook, m.code) for m in MUTANTS.values()]
    answers += [(nb, code) for nb, cells in ALTERNATIVES.items() for code in cells.values()]
    given = {p.stem: given_names(p) for p in (ROOT / "notebooks" / "ch8").glob("*.ipynb")}
    assert {"relu", "images"} <= given["01_overfitting"] and "evaluate" in given["02_early_stopping"]
    for notebook, code in answers:
        assert scan_source(code, given[notebook]) == [], code


@pytest.mark.parametrize("code, words", [
    (-9, "ran out of memory"), (-11, "segmentation fault"), (1, "exit code 1"), (0, "exit() or quit()"),
    (None, "stopped answering"), (-15, "SIGTERM"),
])
def test_death_reasons_are_words(code, words):
    """What the feedback says when a kernel dies, by how it died."""
    assert words in death_reason(code)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"), (b'{"cells": [', "not a complete notebook file"), (b"\xff\xfe\x00", "not a text file"),
    (b'{"a": 1}', "not a notebook"), (b'{"cells": [], "metadata": {}, "nbformat": 4}', "not a valid notebook"),
])
def test_unreadable_files_are_explained(tmp_path, content, words):
    """Why a handed-in file cannot be graded, in words a student can act on."""
    path = tmp_path / "01_overfitting.ipynb"
    path.write_bytes(content)
    assert words in unreadable_reason(path)


def test_a_real_notebook_is_readable():
    """The released notebooks pass the check that unreadable files fail."""
    assert all(unreadable_reason(p) is None for p in (ROOT / "notebooks" / "ch8").glob("*.ipynb"))


def test_ipython_syntax_keeps_line_numbers_and_ordinary_magics_pass():
    """With a magic in the cell, lines still count from the cell's first line; %time is fine, %xmode is not."""
    code = "\n\ndef f():\n    import sys\n    sys.displayhook(7.0)\n%time x = 1\n%xmode Minimal\n"
    found = scan_source(code)
    assert [line for line, _ in found] == [5, 7]
    assert "%xmode" in found[1][1]


def test_the_table_shows_whole_student_ids():
    """Two long ids that share their first 30 characters stay apart in the table on screen."""
    same_start = "a_student_id_much_longer_than_usual_"
    flags = [Flag(same_start + end, "01_overfitting", "nb01-evaluate", 2, "rebinds helpers.check", "x")
             for end in ("one", "two")]
    shown = table(flags)
    assert same_start + "one" in shown and same_start + "two" in shown
    assert "2 place(s) to look at in 2 submission(s)" in shown
