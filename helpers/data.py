"""The lab's data, prepared exactly as chapter 8 of the book prepares it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.mnist import load_data

TRAIN_SIZE = 1_000
"""The book trains on the first 1,000 training images only: few enough to memorise."""

VALIDATION_SLICE = slice(50_000, 60_000)
"""Validation images: the last 10,000 of MNIST's training set (never trained on, not the test set)."""


def one_hot(labels: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Return a float64 array of shape (n, num_classes) with a 1 at each label's index."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"one_hot expects a 1-D array of class numbers, got shape {labels.shape}. "
            "If your labels are already one-hot, use them as they are; otherwise flatten them."
        )
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.issubdtype(labels.dtype, np.floating) or not np.all(labels == np.round(labels)):
            raise TypeError(
                f"one_hot expects whole class numbers (like 0, 3, 9), got dtype {labels.dtype} "
                f"with values such as {labels.ravel()[:3].tolist()}."
            )
    bad = (labels < 0) | (labels >= num_classes)
    if np.any(bad):
        raise ValueError(
            f"one_hot got label {labels[bad][0].item()!r} at index {int(np.argmax(bad))}; "
            f"labels must lie in 0..{num_classes - 1} for num_classes={num_classes}."
        )
    encoded = np.zeros((len(labels), num_classes))
    encoded[np.arange(len(labels)), labels.astype(np.intp)] = 1
    return encoded


def flatten_images(images: np.ndarray) -> np.ndarray:
    """Return uint8 images of shape (n, 28, 28) as float64 rows of 784 values in [0, 1]."""
    # Same expression as the book (reshape, then / 255) so the floats are bit-identical.
    return images.reshape(len(images), 28 * 28) / 255


@dataclass(frozen=True)
class LabData:
    """Training, validation and test arrays of the lab (images as rows, labels one-hot)."""

    images: np.ndarray
    labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def load_lab_data() -> LabData:
    """Return the book's 1,000 training images, a 10,000-image validation split and the test set."""
    (x_train, y_train), (x_test, y_test) = load_data()
    return LabData(
        images=flatten_images(x_train[:TRAIN_SIZE]),
        labels=one_hot(y_train[:TRAIN_SIZE]),
        val_images=flatten_images(x_train[VALIDATION_SLICE]),
        val_labels=one_hot(y_train[VALIDATION_SLICE]),
        test_images=flatten_images(x_test),
        test_labels=one_hot(y_test),
    )
