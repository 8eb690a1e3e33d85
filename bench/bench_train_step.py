"""Print the cost of the book's one-image-at-a-time training, with and without tune_malloc()."""
from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
from helpers import load_lab_data, tune_malloc
if sys.argv[1] == "tuned":
    tune_malloc()
data = load_lab_data()
images, labels = data.images, data.labels
np.random.seed(1)
w01 = 0.2 * np.random.random((784, 40)) - 0.1
w12 = 0.2 * np.random.random((40, 10)) - 0.1
before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for j in range(20):
    for i in range(len(images)):
        layer_0 = images[i:i + 1]
        hidden = np.dot(layer_0, w01)
        layer_1 = (hidden >= 0) * hidden
        layer_2 = np.dot(layer_1, w12)
        layer_2_delta = labels[i:i + 1] - layer_2
        layer_1_delta = layer_2_delta.dot(w12.T) * (layer_1 >= 0)
        w12 += 0.005 * layer_1.T.dot(layer_2_delta)
        w01 += 0.005 * layer_0.T.dot(layer_1_delta)
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - start, "sys": after.ru_stime - before.ru_stime,
                  "checksum": float(w01.sum())}))
"""


def run(mode: str) -> dict:
    """Train 20 passes in a fresh process; return wall and system seconds and a weight checksum."""
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


if __name__ == "__main__":
    plain, tuned = run("plain"), run("tuned")
    print(f"20 passes x 1,000 one-image steps: plain {plain['wall']:.2f} s ({plain['sys']:.2f} s in the kernel), "
          f"with tune_malloc {tuned['wall']:.2f} s ({tuned['sys']:.2f} s in the kernel); "
          f"same weights: {plain['checksum'] == tuned['checksum']}")
