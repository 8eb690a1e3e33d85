"""one_hot, the lab's data split, the book's log lines, the allocator tweak and the notebooks' setup call."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from helpers import load_lab_data, one_hot, progress_line, tune_malloc
from helpers.data import TRAIN_SIZE, VALIDATION_SLICE

BOOK_TABLES = Path(__file__).resolve().parent / "data" / "book_ch8_tables.json"


def test_one_hot_puts_a_single_one_at_each_label():
    """Each row has one 1, at the label's column, as float64."""
    encoded = one_hot(np.array([5, 0, 9], dtype=np.uint8))
    assert encoded.dtype == np.float64 and encoded.shape == (3, 10)
    assert encoded.sum(axis=1).tolist() == [1, 1, 1]
    assert np.argmax(encoded, axis=1).tolist() == [5, 0, 9]


def test_one_hot_accepts_whole_floats_and_other_class_counts():
    """Labels stored as 2.0 are fine; num_classes sets the width."""
    assert np.argmax(one_hot(np.array([2.0, 1.0]), num_classes=3), axis=1).tolist() == [2, 1]
    assert one_hot(np.array([], dtype=int)).shape == (0, 10)


@pytest.mark.parametrize("labels, error, words", [
    (np.array([1, 10]), ValueError, "0..9"),
    (np.array([-1, 2]), ValueError, "label -1"),
    (np.array([0.5, 1.0]), TypeError, "whole class numbers"),
    (np.array([True, False]), TypeError, "whole class numbers"),
    (np.eye(10)[[1, 2]], ValueError, "already one-hot"),
    (np.array([[1], [2]]), ValueError, "1-D"),
])
def test_one_hot_rejects_bad_labels_with_a_clear_message(labels, error, words):
    """Out-of-range, fractional, boolean and non-1-D labels get an error that says what to do."""
    with pytest.raises(error, match=words.replace(".", r"\.")):
        one_hot(labels)


@pytest.fixture(scope="module")
def lab():
    return load_lab_data()


def test_lab_data_is_prepared_as_in_the_book(lab):
    """Shapes, dtypes and value ranges of the book's arrays."""
    assert lab.images.shape == (TRAIN_SIZE, 784) and lab.images.dtype == np.float64
    assert lab.labels.shape == (TRAIN_SIZE, 10)
    assert lab.test_images.shape == (10_000, 784) and lab.test_labels.shape == (10_000, 10)
    for images in (lab.images, lab.val_images, lab.test_images):
        assert images.min() == 0.0 and images.max() == 1.0
    for labels in (lab.labels, lab.val_labels, lab.test_labels):
        assert np.all(labels.sum(axis=1) == 1) and set(np.unique(labels)) == {0.0, 1.0}
    assert np.argmax(lab.labels[:5], axis=1).tolist() == [5, 0, 4, 1, 9]
    assert np.argmax(lab.test_labels[:5], axis=1).tolist() == [7, 2, 1, 0, 4]


def test_lab_images_are_the_books_floats_bit_for_bit(lab):
    """The book's x_train[0:1000].reshape(1000, 28*28) / 255, not an approximation of it."""
    from helpers import load_data

    (x_train, _), (x_test, _) = load_data()
    assert np.array_equal(lab.images, x_train[0:1000].reshape(1000, 28 * 28) / 255)
    assert np.array_equal(lab.test_images, x_test.reshape(len(x_test), 28 * 28) / 255)


def test_validation_split_is_disjoint_from_training_and_test(lab):
    """Validation images are training images 50,000-59,999: never trained on, not the test set."""
    assert lab.val_images.shape == (VALIDATION_SLICE.stop - VALIDATION_SLICE.start, 784)
    train_rows = {row.tobytes() for row in lab.images}
    test_rows = {row.tobytes() for row in lab.test_images}
    val_rows = [row.tobytes() for row in lab.val_images]
    assert not train_rows.intersection(val_rows)
    # MNIST holds a few exact duplicates across its sets; allow those, not a shared split.
    assert len(test_rows.intersection(val_rows)) < 10


def test_progress_line_prints_the_books_format():
    """Errors cut to 5 characters, accuracies as str(): '0.93', '1.0', '0.7073'."""
    last = json.loads(BOOK_TABLES.read_text())["lines"]["baseline"][-1]
    assert progress_line(349, {"Train": (0.10812345, 1.0), "Test": (0.65312, 7073 / 10000)}) == last
    assert progress_line(20, {"Test": (0.41, 0.8133), "Train": (0.43, 930 / 1000)}) == (
        "I:20 Test-Err:0.41 Test-Acc:0.8133 Train-Err:0.43 Train-Acc:0.93")
    assert progress_line(0, {"Val": (np.float64(1.2845), np.float64(0.165))}) == "I:0 Val-Err:1.284 Val-Acc:0.165"


def test_tune_malloc_reports_whether_it_applied():
    """On glibc Linux the thresholds are set; elsewhere it is a harmless no-op that says so."""
    applied = tune_malloc()
    assert isinstance(applied, bool)
    if os.uname().sysname == "Linux" and os.confstr("CS_GNU_LIBC_VERSION"):
        assert applied


def _python(code: str, **env: str) -> str:
    """Return what ``code`` prints in a fresh Python of this environment (with ``env`` added)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_start_notebook_returns_the_data_and_whether_nbgrader_runs_it(monkeypatch, lab):
    """The setup cells' one call: the lab's arrays, and QUICK only while NBGRADER_EXECUTION is set."""
    from helpers import start_notebook

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    data, quick = start_notebook()
    assert quick is False and np.array_equal(data.images, lab.images) and np.array_equal(data.test_labels, lab.test_labels)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert start_notebook()[1] is True


def test_start_notebook_sets_one_blas_thread_before_numpy_is_loaded():
    """Notebook 05 calls it first: importing it loads no NumPy, and many_networks=True sets the threads."""
    printed = _python("import os, sys\nos.environ.pop('OPENBLAS_NUM_THREADS', None)\nfrom helpers import start_notebook\n"
                      "before = 'numpy' in sys.modules\ndata, quick = start_notebook(many_networks=True)\n"
                      "print(before, os.environ['OPENBLAS_NUM_THREADS'], quick, data.images.shape)",
                      NBGRADER_EXECUTION="validate")
    assert printed == "False 1 True (1000, 784)"
