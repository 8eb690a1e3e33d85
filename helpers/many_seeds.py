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
  computed once. Each block of 120 steps gets one large product ``G[block] @ C`` for all networks
  together (1,000 x 1,000 x all hidden units per pass: most of the arithmetic, in the fast kind of
  product), computed on a second thread while this one runs the block before.
* Step t must also see the changes of the steps not yet in C: the previous block's (one product
  per block), the block's earlier 40-step mid-blocks (one per mid-block), its 8-step sub-block's
  earlier steps (one per step). All enter exactly, through ``G[t, j]``, with products per network.
* ``weights_1_2`` is updated once per sub-block; in between, each step adds the effect of the
  sub-block's earlier updates (outer products) through dot products with their hidden layers.

So a step costs a dozen small NumPy calls for all networks together instead of a dozen per network.
Networks of different hidden sizes can be trained together: the smaller ones are padded with units
whose weights stay exactly 0. Two threads do the work, so BLAS is best left single-threaded
(``OPENBLAS_NUM_THREADS=1`` before NumPy is imported, as notebook 05 does): BLAS threads of their
own would mostly wait in busy loops. ``bench/bench_many_seeds.py`` prints timings;
``tests/test_many_seeds.py`` compares with plain runs.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

_BLOCK = 120  # steps per large product G[block] @ C (a multiple of _MID_BLOCK): balances the two threads
_MID_BLOCK = 40  # steps whose inputs get the block's earlier changes in one product (a multiple of _SUB_BLOCK)
_SUB_BLOCK = 8  # steps that see each other's changes one by one: few keeps each step cheap
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
    half of the networks are evaluated on its thread while this one does the other half.
    """
    errors, accuracies = np.full(len(weights), np.nan), np.full(len(weights), np.nan)
    finite = [k for k, (w01, w12) in enumerate(weights) if np.isfinite(w01).all() and np.isfinite(w12).all()]
    if not finite:
        return errors, accuracies
    units = sum(weights[k][1].shape[0] for k in finite)
    limit = max(min(_EVALUATE_UNITS, -(-units // 2) if pool else _EVALUATE_UNITS), 1)
    groups, group, size = [], [], 0
    for k in finite:  # a few networks at a time, so that their hidden layers fit in memory
        if group and size + weights[k][1].shape[0] > limit:
            groups.append(group)
            group, size = [], 0
        group.append(k)
        size += weights[k][1].shape[0]
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

    elsewhere = [pool.submit(evaluate_group, group) for group in groups[1::2]] if pool else []
    for group in groups[::2] if pool else groups:
        evaluate_group(group)
    for job in elsewhere:
        job.result()
    return errors, accuracies


def _sub_block_rows(gram: np.ndarray) -> np.ndarray:
    """Return row t = [G[t, s], ..., G[t, t-1], 1, 0, ...], with s the first step of t's sub-block."""
    rows = np.zeros((len(gram), _SUB_BLOCK))
    for t in range(len(gram)):
        first = t - (t % _BLOCK) % _SUB_BLOCK  # sub-blocks start every _SUB_BLOCK steps of a block
        rows[t, :t - first] = gram[t, first:t]
        rows[t, t - first] = 1.0  # the step's own input
    return rows


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
        mix = _sub_block_rows(self.gram)
        # Step t, k-th of its sub-block, mixes its own input with the sub-block's k earlier changes.
        self._mix_rows = [mix[t:t + 1, :t % _BLOCK % _SUB_BLOCK + 1] for t in range(len(mix))]
        self.runs: list[Run] = list(runs)
        self._streams = [np.random.RandomState(run.seed) for run in self.runs]  # = np.random.seed(run.seed)
        drawn = [book_weights(stream, run.hidden_size) for stream, run in zip(self._streams, self.runs)]
        self._start = [weights_0_1 for weights_0_1, _ in drawn]
        self.passes = 0
        # One helper thread computes the next block's large product while this thread runs the steps.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="many-seeds")
        self._prefetched: tuple[tuple[int, int], Future] | None = None  # the next pass's first block
        self._pixel_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # see _used_pixels
        self._layout()
        self._w2t = np.zeros((len(self.runs), 10, self._hmax))  # weights_1_2 transposed; padding stays 0
        for n, (_, weights_1_2) in enumerate(drawn):
            self._w2t[n, :, :weights_1_2.shape[0]] = weights_1_2.T
        self._changes = np.zeros((len(self.images), self._width))  # C: each image's summed alpha * delta
        self._before = self.images @ np.concatenate(self._start, axis=1)  # images @ starting weights

    def _layout(self) -> None:
        """Note where each network's hidden units sit: side by side (large products) and padded (steps)."""
        sizes = [run.hidden_size for run in self.runs]
        self._hmax = max(sizes)
        self._edges = np.cumsum([0] + sizes)
        self._width = int(self._edges[-1])
        # Runs of consecutive networks of one hidden size: (first, end, size, first column side by side).
        self._groups = []
        for n, size in enumerate(sizes):
            if self._groups and self._groups[-1][2] == size:
                first, _, _, column = self._groups[-1]
                self._groups[-1] = (first, n + 1, size, column)
            else:
                self._groups.append((n, n + 1, size, int(self._edges[n])))
        self._alpha = np.array([run.alpha for run in self.runs], dtype=float)
        self._dropout = np.array([run.dropout for run in self.runs], dtype=bool)
        self._grow = self._shrink = None  # mask buffers, made by the first pass with dropout

    def keep(self, which: Sequence[int]) -> None:
        """Keep only the networks at positions ``which`` (in that order), e.g. once the others are done."""
        which = list(which)
        self._drop_prefetched()  # it was computed for the networks as they were
        columns = np.concatenate([np.arange(self._edges[n], self._edges[n + 1]) for n in which])
        self.runs = [self.runs[n] for n in which]
        self._streams = [self._streams[n] for n in which]
        self._start = [self._start[n] for n in which]
        kept_w2t = self._w2t[which]
        self._changes = np.ascontiguousarray(self._changes[:, columns])
        self._before = np.ascontiguousarray(self._before[:, columns])
        self._layout()
        self._w2t = np.ascontiguousarray(kept_w2t[:, :, :self._hmax])

    def weights(self, which: Sequence[int] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Return a copy of (weights_0_1, weights_1_2) of each network (all, or those at ``which``)."""
        which = list(range(len(self.runs)) if which is None else which)
        if not which:
            return []
        columns = np.concatenate([np.arange(self._edges[n], self._edges[n + 1]) for n in which])
        with np.errstate(over="ignore", invalid="ignore"):  # (a network whose weights overflowed)
            moved = self.images.T @ self._changes[:, columns]  # images.T @ C: what training added to weights_0_1
        result, start = [], 0
        for n in which:
            size = self.runs[n].hidden_size
            result.append((self._start[n] + moved[:, start:start + size], self._w2t[n, :, :size].T.copy()))
            start += size
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
        whose weights overflowed gets nan.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}.")
        count, networks = len(self.images), len(self.runs)
        grow, shrink = self._pass_masks()
        outputs = np.empty((count, networks, 10))
        # An alpha far too large makes weights overflow: that network's numbers become inf/nan and it
        # is reported as such (nan), not with a screen of RuntimeWarnings.
        with np.errstate(over="ignore", invalid="ignore"):
            if batch_size == 1:
                self._pass_one_at_a_time(grow, shrink, outputs)
            else:
                self._pass_in_batches(int(batch_size), grow, shrink, outputs)
            errors = np.sum((self.labels[:, None, :] - outputs) ** 2, axis=(0, 2)) / count
        self.passes += 1
        correct = np.argmax(outputs, axis=2) == np.argmax(self.labels, axis=1)[:, None]
        accuracies = np.mean(correct, axis=0)
        accuracies[~np.isfinite(errors)] = np.nan
        return errors, accuracies

    def _pass_masks(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Return a pass's factors for the hidden layer (mask x 2, or 1) and for its delta (alpha x mask, or alpha)."""
        if not self._dropout.any():
            return None, None
        count, networks = len(self.images), len(self.runs)
        if self._grow is None:  # made once: networks without dropout keep their 1 and alpha
            self._grow = np.ones((count, networks, self._hmax))
            self._shrink = np.empty((count, networks, self._hmax))
            self._shrink[...] = self._alpha[:, None]
        for n in np.flatnonzero(self._dropout):
            mask = dropout_masks(self._streams[n], count, self.runs[n].hidden_size)
            np.multiply(mask, 2, out=self._grow[:, n, :mask.shape[1]])  # the book: layer_1 * mask * 2
            np.multiply(mask, self._alpha[n], out=self._shrink[:, n, :mask.shape[1]])
        return self._grow, self._shrink

    def _per_network(self, rows: np.ndarray) -> np.ndarray:
        """Return rows of hidden units side by side, (m, width), per network and padded: (networks, m, hmax)."""
        padded = self._hmax != min(run.hidden_size for run in self.runs)
        result = (np.zeros if padded else np.empty)((len(self.runs), len(rows), self._hmax))
        for first, end, size, column in self._groups:
            side = rows[:, column:column + (end - first) * size].reshape(len(rows), end - first, size)
            result[first:end, :, :size] = side.transpose(1, 0, 2)
        return result

    def _add_side_by_side(self, target: np.ndarray, per_network: np.ndarray) -> None:
        """Add per-network rows (networks, m, hmax) to rows of hidden units side by side, (m, width)."""
        for first, end, size, column in self._groups:
            side = target[:, column:column + (end - first) * size].reshape(len(target), end - first, size)
            side += per_network[first:end, :, :size].transpose(1, 0, 2)

    def _block_input(self, a0: int, a1: int) -> np.ndarray:
        """Return steps a0..a1's hidden-layer inputs per network, (networks, a1 - a0, hmax), as C is now."""
        with np.errstate(over="ignore", invalid="ignore"):  # (error states are per thread: see train_pass)
            return self._per_network(self._before[a0:a1] + self.gram[a0:a1] @ self._changes)

    def _drop_prefetched(self) -> None:
        """Forget the next pass's first block computed in advance (after waiting for it: it reads C)."""
        if self._prefetched is not None:
            self._prefetched[1].result()
            self._prefetched = None

    def _blocks(self, size: int) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield (a0, a1, block) for each block of ``size`` steps of a pass, in order.

        ``block`` holds the steps' hidden-layer inputs per network, every earlier step's changes
        counted; the caller turns each row into that step's alpha * layer_1_delta, in place. Each
        block's large product runs on the helper thread while the caller works on the block before,
        so it cannot count that block's changes yet: they are added here, with a small product. C is
        only changed while the helper thread is idle.
        """
        count = len(self.images)
        ranges = [(a0, min(a0 + size, count)) for a0 in range(0, count, size)]
        if self._prefetched is not None and self._prefetched[0] == ranges[0]:
            pending = self._prefetched[1]
            self._prefetched = None
        else:
            self._drop_prefetched()
            pending = self._pool.submit(self._block_input, *ranges[0])
        previous = None
        for i, (a0, a1) in enumerate(ranges):
            block = pending.result()
            if previous is not None:
                self._add_side_by_side(self._changes[previous[0]:previous[1]], previous[2])
            # The next block's large product is submitted before this block's small one below, so that
            # the two run at once: the helper thread's products are the longer part of each block.
            if i + 1 < len(ranges):
                pending = self._pool.submit(self._block_input, *ranges[i + 1])
            if previous is not None:
                p0, p1, deltas = previous
                block += np.matmul(self.gram[a0:a1, p0:p1], deltas)  # the previous block's changes
            yield a0, a1, block
            previous = (a0, a1, block)
        p0, p1, deltas = previous
        self._add_side_by_side(self._changes[p0:p1], deltas)
        self._prefetched = (ranges[0], self._pool.submit(self._block_input, *ranges[0]))

    def _pass_one_at_a_time(self, grow: np.ndarray | None, shrink: np.ndarray | None, outputs: np.ndarray) -> None:
        """One pass of the book's loop for every network: one update per image, in order."""
        count, networks, hmax = len(self.images), len(self.runs), self._hmax
        gram, labels, w2t = self.gram, self.labels, self._w2t
        alpha = self._alpha[:, None]
        # Per network: rows 0..9 of `known` are weights_1_2 (transposed) as at the sub-block's start,
        # row 10+i the hidden layer of its step i; row 10+i of `moves` is alpha * layer_2_delta of
        # step i, rows 0..9 the identity. The current weights_1_2 times a vector is then `known` times
        # it, corrected through `moves`: the rank-1 updates are made once per sub-block.
        known = np.empty((networks, 10 + _SUB_BLOCK, hmax))
        moves = np.zeros((networks, 10 + _SUB_BLOCK, 10))
        moves[:, :10, :] = np.eye(10)
        dots, coefficients = np.empty((networks, 10 + _SUB_BLOCK, 1)), np.empty((networks, 10 + _SUB_BLOCK, 1))
        hidden_in, delta = np.empty((networks, 1, hmax)), np.empty((networks, 1, hmax))
        error = np.empty((networks, 10))
        # The slices each step k of a sub-block works on, made once (slicing costs as much as a small product).
        views = [(known[:, :10 + k], known[:, 10 + k], dots[:, :10 + k], dots[:, :10 + k].transpose(0, 2, 1),
                  moves[:, :10 + k], moves[:, 10 + k], coefficients[:, :10 + k],
                  coefficients[:, :10 + k].transpose(0, 2, 1)) for k in range(_SUB_BLOCK)]
        hidden_row, delta_row, error_col = hidden_in[:, 0], delta[:, 0], error[:, :, None]
        # Row i of each block holds step a0+i's hidden-layer input until its turn, then its
        # alpha * layer_1_delta; all products inside the block are small, per network.
        for a0, a1, block in self._blocks(_BLOCK):
            for b0 in range(a0, a1, _SUB_BLOCK):
                b1 = min(b0 + _SUB_BLOCK, a1)
                size, i0 = b1 - b0, b0 - a0
                m0 = i0 - i0 % _MID_BLOCK  # where this sub-block's mid-block starts in the block
                if i0 == m0 and m0:  # a new mid-block: the changes of the block's earlier mid-blocks, at once
                    m1 = min(m0 + _MID_BLOCK, a1 - a0)
                    block[:, m0:m1] += np.matmul(gram[a0 + m0:a0 + m1, a0:a0 + m0], block[:, :m0])
                sub = block[:, i0:i0 + size]
                if i0 > m0:  # the changes of the mid-block's earlier sub-blocks
                    sub += np.matmul(gram[b0:b1, a0 + m0:b0], block[:, m0:i0])
                known[:, :10] = w2t
                for k in range(size):
                    t = b0 + k
                    known_k, layer_1, dots_k, dots_t, moves_k, move, coefficients_k, coefficients_t = views[k]
                    # layer_0 @ weights_0_1: its own input (sub[:, k]) plus the sub-block's earlier changes
                    if k:
                        np.matmul(self._mix_rows[t], sub[:, :k + 1], out=hidden_in)
                        np.maximum(hidden_row, 0, out=layer_1)  # relu
                    else:  # a sub-block's first step has no earlier changes to mix in: its input as it is
                        np.maximum(sub[:, 0], 0, out=layer_1)
                    if grow is not None:
                        layer_1 *= grow[t]  # dropout: mask x 2 (x 1 for networks without dropout)
                    np.matmul(known_k, layer_1[:, :, None], out=dots_k)
                    layer_2 = outputs[t]
                    np.matmul(dots_t, moves_k, out=layer_2[:, None, :])
                    np.subtract(labels[t], layer_2, out=error)  # layer_2_delta
                    np.matmul(moves_k, error_col, out=coefficients_k)
                    np.matmul(coefficients_t, known_k, out=delta)
                    # relu2deriv(layer_1) is 1 everywhere (the book tests output >= 0): nothing to multiply.
                    np.multiply(delta_row, alpha if shrink is None else shrink[t], out=sub[:, k])
                    np.multiply(error, alpha, out=move)
                w2t += np.matmul(moves[:, 10:10 + size].transpose(0, 2, 1), known[:, 10:10 + size])

    def _pass_in_batches(self, batch_size: int, grow: np.ndarray | None, shrink: np.ndarray | None,
                         outputs: np.ndarray) -> None:
        """One pass of the correct mini-batch loop for every network: one averaged update per batch."""
        gram, labels, w2t = self.gram, self.labels, self._w2t
        alpha = self._alpha[:, None, None]
        for a0, a1, block in self._blocks(max(batch_size, _BLOCK // batch_size * batch_size)):  # whole batches
            for r0 in range(a0, a1, batch_size):
                r1 = min(r0 + batch_size, a1)
                size, i0 = r1 - r0, r0 - a0
                layer_1 = block[:, i0:i0 + size]
                if i0:  # the changes made by the block's earlier batches
                    layer_1 = layer_1 + np.matmul(gram[r0:r1, a0:r0], block[:, :i0])
                layer_1 = np.maximum(layer_1, 0)  # (networks, size, hmax)
                if grow is not None:
                    layer_1 *= grow[r0:r1].transpose(1, 0, 2)
                layer_2 = np.matmul(layer_1, w2t.transpose(0, 2, 1))
                outputs[r0:r1] = layer_2.transpose(1, 0, 2)
                layer_2_delta = (labels[r0:r1] - layer_2) / size  # the average over this batch
                layer_1_delta = np.matmul(layer_2_delta, w2t)
                layer_1_delta *= alpha if shrink is None else shrink[r0:r1].transpose(1, 0, 2)
                w2t += alpha * np.matmul(layer_2_delta.transpose(0, 2, 1), layer_1)
                block[:, i0:i0 + size] = layer_1_delta  # this batch's alpha * layer_1_delta, per image
