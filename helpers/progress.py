"""The book's progress lines, formatted the way its listings print them."""
from __future__ import annotations


def book_error(value: float) -> str:
    """Return an error value cut to five characters, as the book's ``str(x)[0:5]`` does."""
    return str(float(value))[0:5]


def book_accuracy(value: float) -> str:
    """Return an accuracy the way the book prints it: ``str()`` of the float, not rounded."""
    return str(float(value))


def progress_line(iteration: int, results: dict[str, tuple[float, float]]) -> str:
    """Return ``I:<iteration> <Name>-Err:<..> <Name>-Acc:<..> ...`` for each (error, accuracy) pair.

    The order of ``results`` is the order printed: the book's first listing prints Train before
    Test, its dropout and batching listings print Test first.
    """
    parts = [f"I:{iteration}"]
    for name, (error, accuracy) in results.items():
        parts.append(f"{name}-Err:{book_error(error)} {name}-Acc:{book_accuracy(accuracy)}")
    return " ".join(parts)
