"""Time helpers.mnist.load_data() from a local folder: cold (empty cache) and warm (npz cache).

Usage:  MNIST_DIR=/path/to/mnist python bench/bench_load.py
Without MNIST_DIR it uses ../shared/mnist next to the repository. Not a test: it only prints.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.5
WARM_RUNS = 5


def timed_load() -> float:
    """Return the seconds one load_data() call takes (module import excluded)."""
    from helpers.mnist import load_data  # cached after the warm-up import in main()

    start = time.perf_counter()
    load_data()
    return time.perf_counter() - start


def main() -> int:
    """Return 0 after printing cold and warm load times (1 if the data folder is missing)."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"
    folder = Path(os.environ.get("MNIST_DIR") or default)
    if not folder.is_dir():
        print(f"No MNIST folder at {folder}; set MNIST_DIR.", file=sys.stderr)
        return 1
    os.environ["MNIST_DIR"] = str(folder)
    import helpers.mnist  # noqa: F401  import cost is not part of load time
    # A fresh, empty cache makes the first call truly cold and keeps the user's cache untouched.
    with tempfile.TemporaryDirectory(prefix="mnist-bench-") as cache:
        os.environ["MNIST_CACHE"] = cache
        cold = timed_load()
        warm = statistics.median(timed_load() for _ in range(WARM_RUNS))
    verdict = "ok" if warm <= TARGET_S else "TOO SLOW"
    print(f"load_data cold: {cold:.2f} s  warm: {warm:.3f} s (median of {WARM_RUNS}; target <= {TARGET_S} s: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
