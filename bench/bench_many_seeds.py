"""Print what one pass of the book's one-image-at-a-time loop costs: plain, and for many seeds side by side.

Notebook 05 trains 30 networks (10 seeds x hidden 40 / hidden 100 with dropout / without) with
helpers.many_seeds.Networks. This prints seconds per pass for one plain network (notebook 03's
loop, hidden 100 with dropout) and for Networks with 1, 10 and 30 networks, in one run, with the
machine's load: compare the ratios, the absolute figures move with the load.
"""
from __future__ import annotations

import os

# As notebook 05 does: Networks keeps every core busy itself (a thread per core), BLAS threads on top only compete.
from helpers.notebook import BLAS_THREADS  # imports no NumPy

for variable in BLAS_THREADS:
    os.environ.setdefault(variable, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from helpers import load_lab_data, tune_malloc  # noqa: E402
from helpers.many_seeds import Networks, Run  # noqa: E402

PASSES = 3


def plain_pass_seconds(images: np.ndarray, labels: np.ndarray) -> float:
    """Return seconds per pass of notebook 03's loop (hidden 100, dropout), one network."""
    np.random.seed(1)
    w01 = 0.2 * np.random.random((784, 100)) - 0.1
    w12 = 0.2 * np.random.random((100, 10)) - 0.1
    start = time.perf_counter()
    for _ in range(PASSES):
        for i in range(len(images)):
            layer_0 = images[i:i + 1]
            layer_1 = (np.dot(layer_0, w01) >= 0) * np.dot(layer_0, w01)
            mask = np.random.randint(2, size=layer_1.shape)
            layer_1 = layer_1 * mask * 2
            layer_2 = np.dot(layer_1, w12)
            layer_2_delta = labels[i:i + 1] - layer_2
            layer_1_delta = layer_2_delta.dot(w12.T) * (layer_1 >= 0) * mask
            w12 += 0.005 * layer_1.T.dot(layer_2_delta)
            w01 += 0.005 * layer_0.T.dot(layer_1_delta)
    return (time.perf_counter() - start) / PASSES


def side_by_side_pass_seconds(images: np.ndarray, labels: np.ndarray, runs: list[Run]) -> float:
    """Return seconds per pass of Networks(runs), after one pass to warm up."""
    nets = Networks(images, labels, runs)
    nets.train_pass()
    start = time.perf_counter()
    for _ in range(PASSES):
        nets.train_pass()
    return (time.perf_counter() - start) / PASSES


def main() -> None:
    tune_malloc()
    data = load_lab_data()
    images, labels = data.images, data.labels
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    plain = plain_pass_seconds(images, labels)
    print(f"plain loop, 1 network (hidden 100, dropout):  {plain:.3f} s per pass")
    seeds = range(1, 11)
    notebook = ([Run(s, 40, 0.005) for s in seeds] + [Run(s, 100, 0.005, True) for s in seeds]
                + [Run(s, 100, 0.005) for s in seeds])
    for label, runs in [("1 network (hidden 100, dropout)", [Run(1, 100, 0.005, True)]),
                        ("10 networks (hidden 100, dropout)", [Run(s, 100, 0.005, True) for s in seeds]),
                        ("30 networks (notebook 05)", notebook)]:
        seconds = side_by_side_pass_seconds(images, labels, runs)
        print(f"side by side, {label + ':':<37} {seconds:.3f} s per pass, {plain * len(runs) / seconds:.1f}x "
              f"the plain loop's speed per network")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
