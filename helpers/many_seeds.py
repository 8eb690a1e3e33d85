"""Train many copies of the book's network side by side, one per seed, with the book's arithmetic.

One run with one seed cannot say whether a number is typical or lucky; ten runs can. Ten plain runs
of the book's one-image-at-a-time loop take minutes, so ``Networks`` trains them all at once:

    nets = Networks(images, labels, [Run(seed, hidden_size=40, alpha=0.005) for seed in range(1, 11)])
    for j in range(350):
        train_error, train_accuracy = nets.train_pass()           # one entry per network
    test_error, test_accuracy = nets.evaluate(test_images, test_labels)

Each network computes what the book's loop computes for its seed, up to rounding (sums are taken
in another order): the same starting weights, the same dropout masks, the same updates in the same
order. How the work is shared:

* Each network draws from its own ``np.random.RandomState(seed)``: exactly the numbers that
  ``np.random.seed(seed)`` followed by the book's global calls gives, first the weights, then the
  dropout masks (drawn a whole pass at a time: the same numbers, see ``dropout_masks``).
* The first layer's weights are never updated directly. Image j changes them by
  ``x_j.T @ (alpha * layer_1_delta_j)``; row j of ``C`` adds up image j's ``alpha * layer_1_delta``
  over all steps so far, so that ``weights_0_1 = start + images.T @ C`` at any time and the hidden
  layer's input for image t is ``images[t] @ start + G[t] @ C``, with ``G = images @ images.T``
  computed once. The hidden units of many networks sit side by side in the columns of ``C``.
* Each block of 200 steps gets one large product ``G[block] @ C`` for all those networks together:
  most of the arithmetic, in BLAS's fast kind of product. Within the block, step t must also see
  the changes of the block's earlier steps: those of earlier 40-step mid-blocks and of the
  mid-block's earlier 10-step sub-blocks in one product each, those of its own sub-block one by one
  (the mini-batch loop: blocks of 100 images, in whole batches, and one product per earlier batch).
* The steps themselves (the relu, ``weights_1_2``, both deltas) run in ``_steps``, a loop compiled
  by Numba: a step is a few hundred thousand multiplications for all networks together, and
  NumPy would spend far longer calling small products one network at a time.
* The networks are split into one part per core (at most ``_MAX_PARTS``), each trained on a
  thread of its own: networks do not depend on each other, so the parts never wait for each other
  within a pass. A network meets the same arithmetic in any part, up to rounding: BLAS may add up
  a column of a product in another order when other columns sit beside it.

Networks of different hidden sizes can be trained together. The parts' threads do the work, so
BLAS is best left single-threaded (``OPENBLAS_NUM_THREADS=1`` before NumPy is imported, as notebook
05 does): BLAS threads of their own would only compete with them. ``bench/bench_many_seeds.py``
prints timings; ``tests/test_many_seeds.py`` compares with plain runs.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

_BLOCK = 200  # steps per large product G[block] @ C: larger is faster BLAS, but more changes to add inside
_BATCH_BLOCK = 100  # steps per large product in the mini-batch loop (whole batches; no mid-blocks there)
_MID_BLOCK = 40  # steps that get the block's earlier changes in one product
_SUB_BLOCK = 10  # steps whose changes reach each other one by one, inside the compiled loop
_MAX_PARTS = 4  # threads that train networks at once (one per core, up to this many)
_EVALUATE_UNITS = 1_000  # hidden units evaluated at once (per thread): 10,000 images x 1,000 units = 80 MB


@dataclass(frozen=True)
class Run:
    """The settings of one network: the book's 784-hidden_size-10 network, trained from its own seed."""

    seed: int
    hidden_size: int
    alpha: float
    dropout: bool = False


def book_weights(stream: np.random.RandomState, hidden_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (weights_0_1, weights_1_2) drawn from ``stream`` exactly as the book draws them."""
    weights_0_1 = 0.2 * stream.random_sample((784, hidden_size)) - 0.1
    weights_1_2 = 0.2 * stream.random_sample((hidden_size, 10)) - 0.1
    return weights_0_1, weights_1_2


def dropout_masks(stream: np.random.RandomState, rows: int, hidden_size: int) -> np.ndarray:
    """Return a whole pass of 0/1 dropout masks, (rows, hidden_size), as the book draws them.

    One ``randint(2, size=(rows, hidden_size))`` call yields the same numbers as one call per
    image, ``randint(2, size=(1, hidden_size))``, or one per batch: each value takes the next
    32-bit draw of the stream, in order (tests/test_many_seeds.py checks it).
    """
    return stream.randint(2, size=(rows, hidden_size))


def evaluate_weights(images: np.ndarray, labels: np.ndarray, weights: Sequence[tuple[np.ndarray, np.ndarray]],
                     pool: ThreadPoolExecutor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (mean squared error per image, accuracy) of each (weights_0_1, weights_1_2) on a set, no dropout.

    A network whose weights overflowed (an alpha far too large) gets nan for both. With ``pool``,
    its threads and this one evaluate about as many hidden units each.
    """
    errors, accuracies = np.full(len(weights), np.nan), np.full(len(weights), np.nan)
    finite = [k for k, (w01, w12) in enumerate(weights) if np.isfinite(w01).all() and np.isfinite(w12).all()]
    if not finite:
        return errors, accuracies
    threads = 1 + (pool._max_workers if pool else 0)
    units = [weights[k][1].shape[0] for k in finite]
    # A few networks at a time, so that their hidden layers fit in memory; as many groups per thread,
    # with about as many hidden units in each, so that the threads finish together.
    count = threads * -(-sum(units) // (threads * _EVALUATE_UNITS))
    target = sum(units) / count
    groups, group, size = [], [], 0
    for k, hidden in zip(finite, units):
        if group and size + hidden / 2 > target * (len(groups) + 1) and len(groups) < count - 1:
            groups.append(group)
            group = []
        group.append(k)
        size += hidden
    groups.append(group)
    answers = np.argmax(labels, axis=1)

    def evaluate_group(group: list[int]) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # huge weights: reported as nan, not warned about
            hidden = images @ np.concatenate([weights[k][0] for k in group], axis=1)  # one product for the group
            np.maximum(hidden, 0, out=hidden)
            start = 0
            for k in group:
                weights_1_2 = weights[k][1]
                output = hidden[:, start:start + weights_1_2.shape[0]] @ weights_1_2
                start += weights_1_2.shape[0]
                # The notebooks' evaluate(): squared errors added up per image, then averaged.
                error = np.sum((labels - output) ** 2) / len(images)
                if np.isfinite(error):
                    errors[k], accuracies[k] = error, np.mean(np.argmax(output, axis=1) == answers)

    elsewhere = [pool.submit(evaluate_group, group) for i, group in enumerate(groups) if i % threads]
    for group in groups[::threads]:
        evaluate_group(group)
    for job in elsewhere:
        job.result()
    return errors, accuracies


def _compiled(function: Callable) -> Callable:
    """Return ``function`` compiled by Numba (no Python lock held), cached on disk where a folder allows it."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # no writable folder for Numba's cache: compile in every process instead
        return numba.njit(nogil=True)(function)


@_compiled
def _steps(rows: np.ndarray, first: int, gram: np.ndarray, labels: np.ndarray, weights_1_2: np.ndarray,
           edges: np.ndarray, alphas: np.ndarray, grow: np.ndarray, shrink: np.ndarray,
           outputs: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Run the book's steps first, first + 1, ... (one per row of ``rows``) for every network, in order.

    Row k comes in as step first + k's hidden-layer input with every change made before this
    sub-block counted, and leaves as that step's alpha * layer_1_delta. ``weights_1_2`` (hidden
    units side by side, 10 columns) is updated in place; outputs[k] gets each network's layer_2.
    The ten outputs are written out one by one (o0 ... o9): held in registers, they make a step
    several times faster than a loop over an array of ten.
    """
    steps, width = rows.shape
    hidden = np.empty(width)
    w = weights_1_2
    for k in range(steps):
        t = first + k
        hidden[:] = rows[k]
        for i in range(k):  # the sub-block's earlier changes, through x_t . x_i
            overlap = gram[t, first + i]
            for u in range(width):
                hidden[u] += overlap * rows[i, u]
        for n in range(len(alphas)):
            alpha = alphas[n]
            # layer_1 = relu(layer_0.dot(weights_0_1)) * mask * 2;  layer_2 = layer_1.dot(weights_1_2)
            o0 = o1 = o2 = o3 = o4 = o5 = o6 = o7 = o8 = o9 = 0.0
            for u in range(edges[n], edges[n + 1]):
                x = hidden[u]
                if x < 0.0:  # relu; a nan stays nan, as with the book's (x >= 0) * x
                    x = 0.0
                x *= grow[t, u]  # dropout: mask x 2 (1 for networks without dropout)
                hidden[u] = x
                o0 += x * w[u, 0]; o1 += x * w[u, 1]; o2 += x * w[u, 2]; o3 += x * w[u, 3]; o4 += x * w[u, 4]
                o5 += x * w[u, 5]; o6 += x * w[u, 6]; o7 += x * w[u, 7]; o8 += x * w[u, 8]; o9 += x * w[u, 9]
            out = outputs[k, n]
            out[0] = o0; out[1] = o1; out[2] = o2; out[3] = o3; out[4] = o4
            out[5] = o5; out[6] = o6; out[7] = o7; out[8] = o8; out[9] = o9
            # layer_2_delta = labels - layer_2
            label = labels[t]
            e0 = label[0] - o0; e1 = label[1] - o1; e2 = label[2] - o2; e3 = label[3] - o3; e4 = label[4] - o4
            e5 = label[5] - o5; e6 = label[6] - o6; e7 = label[7] - o7; e8 = label[8] - o8; e9 = label[9] - o9
            for u in range(edges[n], edges[n + 1]):
                # layer_1_delta = layer_2_delta.dot(weights_1_2.T) (before weights_1_2 changes); relu2deriv
                # (layer_1) is 1 everywhere (the book tests output >= 0): nothing to multiply.
                back = (e0 * w[u, 0] + e1 * w[u, 1] + e2 * w[u, 2] + e3 * w[u, 3] + e4 * w[u, 4]
                        + e5 * w[u, 5] + e6 * w[u, 6] + e7 * w[u, 7] + e8 * w[u, 8] + e9 * w[u, 9])
                rows[k, u] = back * shrink[t, u]  # alpha x mask (alpha without dropout)
                # weights_1_2 += alpha * layer_1.T.dot(layer_2_delta)
                x = hidden[u]
                w[u, 0] += alpha * (x * e0); w[u, 1] += alpha * (x * e1); w[u, 2] += alpha * (x * e2)
                w[u, 3] += alpha * (x * e3); w[u, 4] += alpha * (x * e4); w[u, 5] += alpha * (x * e5)
                w[u, 6] += alpha * (x * e6); w[u, 7] += alpha * (x * e7); w[u, 8] += alpha * (x * e8)
                w[u, 9] += alpha * (x * e9)


@_compiled
def _batch_step(rows: np.ndarray, first: int, labels: np.ndarray, weights_1_2: np.ndarray, edges: np.ndarray,
                alphas: np.ndarray, grow: np.ndarray, shrink: np.ndarray,
                outputs: np.ndarray) -> None:  # pragma: no cover (compiled)
    """One step of the correct mini-batch loop for every network: the batch's images first, first + 1, ...

    Row r comes in as image first + r's hidden-layer input with every earlier batch's changes counted
    and leaves as its alpha * layer_1_delta (the delta averaged over the batch); ``weights_1_2`` gets
    the batch's one update; outputs[r] gets each network's layer_2 for image first + r.
    """
    size, width = rows.shape
    hidden = np.empty((size, width))
    errors = np.empty((size, 10))
    w = weights_1_2
    for r in range(size):  # layer_1 = relu(layer_0.dot(weights_0_1)) * mask * 2
        for u in range(width):
            x = rows[r, u]
            if x < 0.0:  # relu; a nan stays nan, as with the book's (x >= 0) * x
                x = 0.0
            hidden[r, u] = x * grow[first + r, u]
    for n in range(len(alphas)):
        for r in range(size):
            t = first + r
            # layer_2 = layer_1.dot(weights_1_2);  layer_2_delta = (labels - layer_2) / batch size
            o0 = o1 = o2 = o3 = o4 = o5 = o6 = o7 = o8 = o9 = 0.0
            for u in range(edges[n], edges[n + 1]):
                x = hidden[r, u]
                o0 += x * w[u, 0]; o1 += x * w[u, 1]; o2 += x * w[u, 2]; o3 += x * w[u, 3]; o4 += x * w[u, 4]
                o5 += x * w[u, 5]; o6 += x * w[u, 6]; o7 += x * w[u, 7]; o8 += x * w[u, 8]; o9 += x * w[u, 9]
            out = outputs[r, n]
            out[0] = o0; out[1] = o1; out[2] = o2; out[3] = o3; out[4] = o4
            out[5] = o5; out[6] = o6; out[7] = o7; out[8] = o8; out[9] = o9
            for o in range(10):
                errors[r, o] = (labels[t, o] - out[o]) / size
            e = errors[r]
            e0 = e[0]; e1 = e[1]; e2 = e[2]; e3 = e[3]; e4 = e[4]; e5 = e[5]; e6 = e[6]; e7 = e[7]; e8 = e[8]; e9 = e[9]
            for u in range(edges[n], edges[n + 1]):
                # layer_1_delta = layer_2_delta.dot(weights_1_2.T) (relu2deriv is 1 everywhere) x mask
                back = (e0 * w[u, 0] + e1 * w[u, 1] + e2 * w[u, 2] + e3 * w[u, 3] + e4 * w[u, 4]
                        + e5 * w[u, 5] + e6 * w[u, 6] + e7 * w[u, 7] + e8 * w[u, 8] + e9 * w[u, 9])
                rows[r, u] = back * shrink[t, u]  # alpha x mask (alpha without dropout)
        alpha = alphas[n]
        for u in range(edges[n], edges[n + 1]):  # weights_1_2 += alpha * layer_1.T.dot(layer_2_delta)
            for o in range(10):
                total = 0.0
                for r in range(size):
                    total += hidden[r, u] * errors[r, o]
                w[u, o] += alpha * total


def compile_now() -> None:
    """Compile the two training loops now (about 5 s, once per machine: Numba keeps them on disk).

    ``python3 tasks.py setup`` and the hub image's postBuild call it, so that notebook 05's first
    run does not pay for it. It trains a tiny network once each way: the types Networks uses.
    """
    stream = np.random.RandomState(0)
    images, labels = stream.random_sample((12, 784)), np.eye(10)[stream.randint(10, size=12)]
    nets = Networks(images, labels, [Run(0, 4, 0.005, dropout=True), Run(1, 3, 0.005)])
    nets.train_pass()
    nets.train_pass(5)


def _cores() -> int:
    """Return how many cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (macOS and Windows have no affinity call)
        return os.cpu_count() or 1


@dataclass
class _Network:
    """One network's whole state between passes: what a part needs to train it further."""

    run: Run
    stream: np.random.RandomState  # where its dropout masks come from
    start: np.ndarray  # weights_0_1 as drawn, (784, hidden)
    changes: np.ndarray  # its columns of C, (images, hidden)
    before: np.ndarray  # images @ start, (images, hidden)
    weights_1_2: np.ndarray  # (hidden, 10)


class _Part:
    """Some of the networks, trained together on one thread: their hidden units side by side."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, gram: np.ndarray, networks: list[_Network]):
        """Put the networks' states side by side (copies)."""
        self.images, self.labels, self.gram = images, labels, gram
        self.runs = [network.run for network in networks]
        self.streams = [network.stream for network in networks]
        self.start = [network.start for network in networks]
        self.changes = np.concatenate([network.changes for network in networks], axis=1)
        self.before = np.concatenate([network.before for network in networks], axis=1)
        self.weights_1_2 = np.concatenate([network.weights_1_2 for network in networks])
        sizes = [run.hidden_size for run in self.runs]
        self.edges = np.cumsum([0] + sizes).astype(np.int64)
        self.width = int(self.edges[-1])
        self.alpha = np.array([run.alpha for run in self.runs], dtype=float)
        self.dropout = np.array([run.dropout for run in self.runs], dtype=bool)
        self.grow: np.ndarray | None = None  # a pass's factors per step and hidden unit (see pass_factors)
        self.shrink: np.ndarray | None = None

    def network(self, n: int) -> _Network:
        """Return network n's state (views of this part's arrays)."""
        columns = slice(self.edges[n], self.edges[n + 1])
        return _Network(self.runs[n], self.streams[n], self.start[n], self.changes[:, columns],
                        self.before[:, columns], self.weights_1_2[columns])

    def weights(self, which: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Return a copy of (weights_0_1, weights_1_2) of the networks at ``which`` (positions in this part)."""
        if not which:
            return []
        columns = np.concatenate([np.arange(self.edges[n], self.edges[n + 1]) for n in which])
        with np.errstate(over="ignore", invalid="ignore"):  # (a network whose weights overflowed)
            moved = self.images.T @ self.changes[:, columns]  # images.T @ C: what training added to weights_0_1
        result, start = [], 0
        for n in which:
            size = self.runs[n].hidden_size
            edge = self.edges[n]
            result.append((self.start[n] + moved[:, start:start + size], self.weights_1_2[edge:edge + size].copy()))
            start += size
        return result

    def pass_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """Return a pass's factors per step and hidden unit: for the hidden layer (mask x 2, or 1) and for
        its delta (alpha x mask, or alpha), with this pass's dropout masks drawn."""
        count = len(self.images)
        if self.grow is None:  # made once: networks without dropout keep their 1 and alpha
            self.grow = np.ones((count, self.width))
            self.shrink = np.repeat(self.alpha, [run.hidden_size for run in self.runs])[None, :].repeat(count, 0)
        for n in np.flatnonzero(self.dropout):
            mask = dropout_masks(self.streams[n], count, self.runs[n].hidden_size)
            columns = slice(self.edges[n], self.edges[n + 1])
            np.multiply(mask, 2, out=self.grow[:, columns])  # the book: layer_1 * mask * 2
            np.multiply(mask, self.alpha[n], out=self.shrink[:, columns])
        return self.grow, self.shrink

    def train_pass(self, batch_size: int, outputs: np.ndarray) -> None:
        """Train this part's networks for one pass; outputs[t] gets each one's layer_2 for image t."""
        grow, shrink = self.pass_factors()
        count, gram = len(self.images), self.gram
        # Whole batches per block (the book's loop: batches of 1).
        size = _BLOCK if batch_size == 1 else max(batch_size, _BATCH_BLOCK // batch_size * batch_size)
        with np.errstate(over="ignore", invalid="ignore"):  # error states are per thread: see Networks.train_pass
            for a0 in range(0, count, size):
                a1 = min(a0 + size, count)
                block = self.before[a0:a1] + gram[a0:a1] @ self.changes  # every earlier block's changes counted
                if batch_size == 1:
                    self._steps_one_at_a_time(a0, a1, block, grow, shrink, outputs)
                else:
                    self._steps_in_batches(a0, a1, block, batch_size, grow, shrink, outputs)
                self.changes[a0:a1] += block  # the block's alpha * layer_1_delta, now known

    def _steps_one_at_a_time(self, a0: int, a1: int, block: np.ndarray, grow: np.ndarray, shrink: np.ndarray,
                             outputs: np.ndarray) -> None:
        """The book's loop over steps a0..a1: each row of ``block`` becomes its step's alpha * layer_1_delta."""
        gram = self.gram
        for m0 in range(a0, a1, _MID_BLOCK):
            m1 = min(m0 + _MID_BLOCK, a1)
            if m0 > a0:  # the changes of the block's earlier mid-blocks, in one product
                block[m0 - a0:m1 - a0] += gram[m0:m1, a0:m0] @ block[:m0 - a0]
            for b0 in range(m0, m1, _SUB_BLOCK):
                b1 = min(b0 + _SUB_BLOCK, m1)
                sub = block[b0 - a0:b1 - a0]
                if b0 > m0:  # the changes of the mid-block's earlier sub-blocks
                    sub += gram[b0:b1, m0:b0] @ block[m0 - a0:b0 - a0]
                _steps(sub, b0, gram, self.labels, self.weights_1_2, self.edges, self.alpha, grow, shrink,
                       outputs[b0:b1])

    def _steps_in_batches(self, a0: int, a1: int, block: np.ndarray, batch_size: int, grow: np.ndarray,
                          shrink: np.ndarray, outputs: np.ndarray) -> None:
        """The correct mini-batch loop over steps a0..a1: one averaged update per batch."""
        for r0 in range(a0, a1, batch_size):
            r1 = min(r0 + batch_size, a1)
            batch = block[r0 - a0:r1 - a0]
            if r0 > a0:  # the changes made by the block's earlier batches
                batch += self.gram[r0:r1, a0:r0] @ block[:r0 - a0]
            _batch_step(batch, r0, self.labels, self.weights_1_2, self.edges, self.alpha, grow, shrink,
                        outputs[r0:r1])

class Networks:
    """Several of the book's networks trained on the same images, each exactly as the book trains one."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, runs: Sequence[Run]):
        """Draw each network's weights from its own seed's stream; nothing is trained yet."""
        if not runs:
            raise ValueError("Networks needs at least one Run(seed, hidden_size, alpha).")
        self.images = np.ascontiguousarray(images, dtype=float)
        self.labels = np.ascontiguousarray(labels, dtype=float)
        if self.images.ndim != 2 or self.labels.shape != (len(self.images), 10):
            raise ValueError(f"Expected images (n, 784) and one-hot labels (n, 10), got shapes "
                             f"{self.images.shape} and {self.labels.shape}.")
        self.gram = self.images @ self.images.T  # G[t, j] = x_t . x_j: how image j's updates move image t
        self.passes = 0
        self._pixel_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # see _used_pixels
        networks = []
        for run in runs:
            stream = np.random.RandomState(run.seed)  # = np.random.seed(run.seed)
            weights_0_1, weights_1_2 = book_weights(stream, run.hidden_size)
            networks.append(_Network(run, stream, weights_0_1, np.zeros((len(self.images), run.hidden_size)),
                                     self.images @ weights_0_1, weights_1_2))
        self._threads = max(1, min(_cores(), _MAX_PARTS, len(networks)))  # this one and the pool's
        self._pool = (ThreadPoolExecutor(max_workers=self._threads - 1, thread_name_prefix="many-seeds")
                      if self._threads > 1 else None)
        self._split(networks)

    def _split(self, networks: list[_Network], overflowed: set[int] = frozenset()) -> None:
        """Share the networks out among one part per thread, with about as many hidden units each.

        The networks at ``overflowed`` are set aside: their numbers can only stay nan (see train_pass).
        """
        self.runs: list[Run] = [network.run for network in networks]
        self._overflowed = {n: _Network(networks[n].run, networks[n].stream, networks[n].start,
                                        networks[n].changes.copy(), networks[n].before.copy(),
                                        networks[n].weights_1_2.copy()) for n in overflowed}  # own copies
        members: list[list[int]] = [[] for _ in range(self._threads)]
        units = [0] * self._threads
        training = [n for n in range(len(networks)) if n not in overflowed]
        for n in sorted(training, key=lambda n: -networks[n].run.hidden_size):  # largest first
            lightest = units.index(min(units))
            members[lightest].append(n)
            units[lightest] += networks[n].run.hidden_size
        members = [sorted(part) for part in members if part]
        self._parts = [_Part(self.images, self.labels, self.gram, [networks[n] for n in part]) for part in members]
        self._where = {n: (p, k) for p, part in enumerate(members) for k, n in enumerate(part)}  # network -> part, place

    def _network(self, n: int) -> _Network:
        """Return network n's state (views of its part's arrays, or its own if set aside)."""
        if n in self._overflowed:
            return self._overflowed[n]
        p, k = self._where[n]
        return self._parts[p].network(k)

    def keep(self, which: Sequence[int]) -> None:
        """Keep only the networks at positions ``which`` (in that order), e.g. once the others are done."""
        which = list(which)
        kept = [self._network(n) for n in which]
        self._split(kept, {i for i, n in enumerate(which) if n in self._overflowed})  # the parts stay even

    def _on_parts(self, work: Callable[[int, _Part], object]) -> list:
        """Return [work(p, part) for each part], the parts on threads of their own (this one does the first)."""
        if not self._parts:
            return []
        jobs = [self._pool.submit(work, p, part) for p, part in enumerate(self._parts) if p] if self._pool else []
        first = work(0, self._parts[0])
        return [first] + [job.result() for job in jobs]

    def weights(self, which: Sequence[int] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Return a copy of (weights_0_1, weights_1_2) of each network (all, or those at ``which``)."""
        which = list(range(len(self.runs)) if which is None else which)
        asked = [[k for n in which if n in self._where for p, k in [self._where[n]] if p == part]
                 for part in range(len(self._parts))]
        found = self._on_parts(lambda p, part: dict(zip(asked[p], part.weights(asked[p]))))
        result = []
        for n in which:
            if n in self._overflowed:
                network = self._overflowed[n]
                with np.errstate(over="ignore", invalid="ignore"):
                    result.append((network.start + self.images.T @ network.changes, network.weights_1_2.copy()))
            else:
                p, k = self._where[n]
                result.append(found[p][k])
        return result

    def evaluate(self, images: np.ndarray, labels: np.ndarray,
                 which: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (mean squared error per image, accuracy) of each network on a set, without dropout.

        A network whose weights overflowed (an ``alpha`` far too large) gets nan for both.
        """
        kept, pixels = self._used_pixels(images)
        weights = [(weights_0_1[pixels], weights_1_2) for weights_0_1, weights_1_2 in self.weights(which)]
        return evaluate_weights(kept, labels, weights, pool=self._pool)

    def _used_pixels(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``images`` without the pixels that are 0 in every image (they add nothing), and those kept.

        Remembered per image set: the test and validation sets are evaluated again and again.
        """
        known = self._pixel_cache.get(id(images))
        if known is None or known[0] is not images:
            pixels = np.flatnonzero(np.any(images != 0, axis=0))
            known = (images, np.ascontiguousarray(images[:, pixels]), pixels)
            self._pixel_cache[id(images)] = known
        return known[1], known[2]

    def train_pass(self, batch_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Train every network for one pass over the images; return each one's (training error, accuracy).

        ``batch_size=1`` is the book's one-image-at-a-time loop; a larger one is the correct
        mini-batch loop of notebook 04: one update per batch, the delta averaged over the batch, the
        last batch smaller if need be. As in the book, the training error (mean per image) and
        accuracy are measured during the pass, each image or batch before its own update. A network
        whose weights overflowed gets nan, and is not trained any further (it could only give nan).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}.")
        count = len(self.images)
        # An alpha far too large makes weights overflow: that network's numbers become inf/nan and it
        # is reported as such (nan), not with a screen of RuntimeWarnings (each part's thread says so too).
        with np.errstate(over="ignore", invalid="ignore"):
            part_outputs = self._on_parts(lambda p, part: self._train_part(part, int(batch_size)))
            outputs = np.full((count, len(self.runs), 10), np.nan)  # (nan: set aside, see below)
            for n, (p, k) in self._where.items():
                outputs[:, n] = part_outputs[p][:, k]
            errors = np.sum((self.labels[:, None, :] - outputs) ** 2, axis=(0, 2)) / count
        self.passes += 1
        correct = np.argmax(outputs, axis=2) == np.argmax(self.labels, axis=1)[:, None]
        accuracies = np.mean(correct, axis=0)
        accuracies[~np.isfinite(errors)] = np.nan
        self._set_aside_overflowed(errors)
        return errors, accuracies

    def _set_aside_overflowed(self, errors: np.ndarray) -> None:
        """Stop training the networks whose weights hold an inf or a nan: from there on every output is nan
        (inf - inf, 0 x inf and anything with nan give nan), so more passes would only cost time."""
        overflowed = set(self._overflowed)
        for n in np.flatnonzero(~np.isfinite(errors)):
            if n not in overflowed:
                network = self._network(int(n))
                if not (np.isfinite(network.weights_1_2).all() and np.isfinite(network.changes).all()):
                    overflowed.add(int(n))
        if len(overflowed) > len(self._overflowed):
            self._split([self._network(n) for n in range(len(self.runs))], overflowed)

    def _train_part(self, part: _Part, batch_size: int) -> np.ndarray:
        """Train one part for a pass; return its outputs, (images, its networks, 10)."""
        outputs = np.empty((len(self.images), len(part.runs), 10))
        part.train_pass(batch_size, outputs)
        return outputs
