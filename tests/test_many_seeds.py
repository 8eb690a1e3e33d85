"""helpers.many_seeds trains many networks side by side: the same computation as plain runs, one per seed.

The plain runs here are the notebooks' loops (01, 03, 04) written out once more, one network at a
time with the global ``np.random.seed``. Batched and plain runs add the same numbers in another
order, so they agree to rounding, not bit for bit; each comparison says how close is close enough.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import helpers.many_seeds
from helpers import load_lab_data
from helpers.many_seeds import Networks, Run, book_weights, compile_now, dropout_masks, evaluate_weights

ALPHA = 0.005


@pytest.fixture(scope="module")
def data():
    """The lab's data (MNIST_DIR or the cache)."""
    return load_lab_data()


def relu(x):
    return (x >= 0) * x


def relu2deriv(output):
    return output >= 0


def outputs(images, weights_0_1, weights_1_2):
    """Return the network's output layer for a set of images (no dropout)."""
    return relu(images @ weights_0_1) @ weights_1_2


def plain_run(data, seed, hidden_size, passes, alpha=ALPHA, dropout=False, batch_size=1):
    """Train one network as the notebooks do; return (rows logged every 10 passes and at the end, weights)."""
    images, labels = data.images, data.labels
    np.random.seed(seed)
    weights_0_1 = 0.2 * np.random.random((784, hidden_size)) - 0.1
    weights_1_2 = 0.2 * np.random.random((hidden_size, 10)) - 0.1
    rows = []
    for j in range(passes):
        error, correct_cnt = 0.0, 0
        for start in range(0, len(images), batch_size):
            layer_0, batch_labels = images[start:start + batch_size], labels[start:start + batch_size]
            layer_1 = relu(np.dot(layer_0, weights_0_1))
            mask = None
            if dropout:
                mask = np.random.randint(2, size=layer_1.shape)
                layer_1 = layer_1 * mask * 2
            layer_2 = np.dot(layer_1, weights_1_2)
            error += np.sum((batch_labels - layer_2) ** 2)
            correct_cnt += int(np.sum(np.argmax(layer_2, axis=1) == np.argmax(batch_labels, axis=1)))
            layer_2_delta = batch_labels - layer_2
            if batch_size > 1:
                layer_2_delta = layer_2_delta / len(layer_0)  # notebook 04's correct loop
            layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
            if mask is not None:
                layer_1_delta = layer_1_delta * mask
            weights_1_2 += alpha * layer_1.T.dot(layer_2_delta)
            weights_0_1 += alpha * layer_0.T.dot(layer_1_delta)
        if j % 10 == 0 or j == passes - 1:
            rows.append((j, error / len(images), correct_cnt / len(images)))
    return rows, (weights_0_1, weights_1_2)


def batched_run(data, runs, passes, batch_size=1):
    """Train ``runs`` side by side; return (rows per network, weights per network)."""
    nets = Networks(data.images, data.labels, runs)
    rows = [[] for _ in runs]
    for j in range(passes):
        errors, accuracies = nets.train_pass(batch_size)
        if j % 10 == 0 or j == passes - 1:
            for n in range(len(runs)):
                rows[n].append((j, errors[n], accuracies[n]))
    return rows, nets.weights()


def near_ties(data, weights, gap):
    """Return how many test images have their two largest outputs closer than ``gap``."""
    top_two = np.sort(outputs(data.test_images, *weights), axis=1)[:, -2:]
    return int(np.sum(top_two[:, 1] - top_two[:, 0] < gap))


def test_each_network_draws_what_the_global_seed_draws():
    """RandomState(seed) gives the weights and masks that np.random.seed(seed) and the book's calls give."""
    for seed in (1, 2, 42):
        np.random.seed(seed)
        w01 = 0.2 * np.random.random((784, 40)) - 0.1
        w12 = 0.2 * np.random.random((40, 10)) - 0.1
        masks = [np.random.randint(2, size=(1, 40)) for _ in range(5)]
        stream = np.random.RandomState(seed)
        mine = book_weights(stream, 40)
        assert np.array_equal(mine[0], w01) and np.array_equal(mine[1], w12)
        assert np.array_equal(dropout_masks(stream, 5, 40), np.vstack(masks))


@pytest.mark.parametrize("rows, batch", [(1000, 1), (1000, 100), (1000, 30), (7, 3)])
def test_a_pass_of_masks_drawn_at_once_equals_one_draw_per_image_or_batch(rows, batch):
    """randint(2, size=(rows, H)) in one call = the book's one call per image (or per batch, last one smaller)."""
    np.random.seed(3)
    one_by_one = np.vstack([np.random.randint(2, size=(min(batch, rows - start), 100))
                            for start in range(0, rows, batch)])
    after = np.random.random()
    stream = np.random.RandomState(3)
    at_once = dropout_masks(stream, rows, 100)
    assert np.array_equal(at_once, one_by_one)
    assert stream.random_sample() == after  # and the stream is left at the same place


@pytest.mark.parametrize("runs, passes, batch_size", [
    ([Run(2, 40, ALPHA), Run(3, 40, ALPHA)], 21, 1),                      # notebook 01, two other seeds
    ([Run(1, 100, ALPHA, True), Run(4, 100, ALPHA, True), Run(4, 40, ALPHA)], 11, 1),  # notebook 03 + mixed sizes
    ([Run(1, 100, 0.1, True), Run(5, 60, 0.1)], 21, 100),                  # notebook 04's correct loop
    ([Run(6, 100, 0.05, True)], 11, 30),                                   # a smaller last batch (1000 = 33 x 30 + 10)
], ids=["per-example", "dropout-mixed-sizes", "minibatch", "partial-batch"])
def test_batched_runs_are_the_plain_runs(data, runs, passes, batch_size):
    """Row for row and weight for weight the batched networks are the plain runs, to rounding.

    Tolerances: the two computations add the same products in another order, so each pass they
    may differ by a few units in the 16th digit, and training carries such differences along
    without blowing them up (the book's seed reproduces the book's rows, printed years ago
    with another NumPy and BLAS). So weights must agree to 1e-9 (millions of times one sum's
    rounding, yet far below any printed digit), errors to 1e-9 relative. An accuracy is a count: it can
    only differ on an image whose two largest outputs are closer than the runs' outputs differ,
    so the test counts those near-ties and allows at most that many.
    """
    rows, weights = batched_run(data, runs, passes, batch_size)
    for n, run in enumerate(runs):
        plain_rows, plain_weights = plain_run(data, run.seed, run.hidden_size, passes, run.alpha, run.dropout, batch_size)
        assert [r[0] for r in rows[n]] == [r[0] for r in plain_rows]
        for (j, error, accuracy), (_, plain_error, plain_accuracy) in zip(rows[n], plain_rows):
            assert error == pytest.approx(plain_error, rel=1e-9), f"{run}: training error of pass {j}"
            assert accuracy == plain_accuracy, f"{run}: training accuracy of pass {j}"
        for mine, theirs in zip(weights[n], plain_weights):
            assert np.max(np.abs(mine - theirs)) < 1e-9, f"{run}: weights after {passes} passes"
        gap = 2 * np.max(np.abs(outputs(data.test_images, *weights[n]) - outputs(data.test_images, *plain_weights)))
        test_mine = evaluate_weights(data.test_images, data.test_labels, [weights[n]])[1][0]
        test_plain = np.mean(np.argmax(outputs(data.test_images, *plain_weights), 1) == np.argmax(data.test_labels, 1))
        allowed = near_ties(data, plain_weights, gap)
        assert abs(test_mine - test_plain) * len(data.test_images) <= allowed, (run, test_mine, test_plain, allowed)


def test_evaluate_weights_matches_the_notebooks_evaluate(data):
    """Error and accuracy per network, the notebooks' formulas, for networks of different sizes and mixed groups."""
    rng = np.random.default_rng(0)
    nets = [(0.2 * rng.random((784, h)) - 0.1, 0.2 * rng.random((h, 10)) - 0.1) for h in (40, 100, 7)]
    errors, accuracies = evaluate_weights(data.test_images, data.test_labels, nets)
    for (w01, w12), error, accuracy in zip(nets, errors, accuracies):
        out = outputs(data.test_images, w01, w12)
        assert error == pytest.approx(np.sum((data.test_labels - out) ** 2) / len(out), rel=1e-12)
        assert accuracy == np.mean(np.argmax(out, 1) == np.argmax(data.test_labels, 1))
    nets = Networks(data.images, data.labels, [Run(1, 40, ALPHA), Run(2, 100, ALPHA, True)])
    nets.train_pass()
    mine = nets.evaluate(data.test_images, data.test_labels)  # without the pixels that are 0 in every image
    theirs = evaluate_weights(data.test_images, data.test_labels, nets.weights())
    assert np.allclose(mine[0], theirs[0], rtol=1e-12, atol=0) and np.array_equal(mine[1], theirs[1])


def test_keep_drops_networks_without_changing_the_others(data):
    """Networks that go on after keep() compute what they would have computed alone."""
    together = Networks(data.images, data.labels, [Run(7, 100, ALPHA, True), Run(8, 40, ALPHA), Run(9, 40, ALPHA)])
    alone = Networks(data.images, data.labels, [Run(9, 40, ALPHA), Run(8, 40, ALPHA)])
    together.train_pass()
    alone.train_pass()
    together.keep([2, 1])
    assert [run.seed for run in together.runs] == [9, 8]
    for _ in range(2):
        a, b = together.train_pass(), alone.train_pass()
        assert np.allclose(a, b, rtol=1e-12, atol=0)
    for mine, theirs in zip(together.weights(), alone.weights()):
        assert np.allclose(mine[0], theirs[0], rtol=0, atol=1e-13) and np.allclose(mine[1], theirs[1], rtol=0, atol=1e-13)


@pytest.mark.parametrize("parts", [1, 3])
def test_a_networks_numbers_do_not_depend_on_the_part_that_trains_it(data, monkeypatch, parts):
    """Split over 1, 2 or 3 threads (a machine's cores), every network prints the same numbers.

    Each part multiplies its own columns of C, and the compiled steps treat each network on its own,
    so a network meets the same arithmetic in any part, except that BLAS may add up a column of a
    product in another order when the product has other columns beside it (about 1e-16). Training
    carries that along without growing it: errors agree to 1e-12, accuracies exactly, weights to 1e-12.
    """
    runs = [Run(1, 40, ALPHA), Run(2, 100, ALPHA, True), Run(3, 100, ALPHA), Run(4, 40, ALPHA, True)]

    def trained(count):
        monkeypatch.setattr(helpers.many_seeds, "_cores", lambda: count)
        nets = Networks(data.images, data.labels, runs)
        assert len(nets._parts) == count
        rows = [nets.train_pass() for _ in range(3)] + [nets.train_pass(100)]
        nets.keep([3, 0])
        rows.append(nets.train_pass())
        return rows, nets.weights(), nets.evaluate(data.test_images, data.test_labels)

    mine, theirs = trained(parts), trained(2)
    for (errors, accuracies), (their_errors, their_accuracies) in zip(mine[0], theirs[0]):
        assert np.allclose(errors, their_errors, rtol=1e-12, atol=0) and np.array_equal(accuracies, their_accuracies)
    for ours, other in zip(mine[1], theirs[1]):
        assert np.max(np.abs(ours[0] - other[0])) < 1e-12 and np.max(np.abs(ours[1] - other[1])) < 1e-12
    assert np.allclose(mine[2][0], theirs[2][0], rtol=1e-12, atol=0) and np.array_equal(mine[2][1], theirs[2][1])


def test_an_alpha_far_too_large_gives_nan_in_the_books_loop_too(data, recwarn):
    """The compiled one-at-a-time steps report an overflowing network as nan, without warnings (the
    mini-batch loop: see the next test), and the other networks train on."""
    nets = Networks(data.images, data.labels, [Run(1, 100, 50.0, True), Run(1, 100, ALPHA), Run(2, 40, 80.0)])
    alone = Networks(data.images, data.labels, [Run(1, 100, ALPHA)])
    for _ in range(3):
        errors, accuracies = nets.train_pass()
        alone_errors, alone_accuracies = alone.train_pass()
        assert errors[1] == pytest.approx(alone_errors[0], rel=1e-12) and accuracies[1] == alone_accuracies[0]
    assert np.isnan(errors[[0, 2]]).all() and np.isnan(accuracies[[0, 2]]).all()
    assert sorted(nets._overflowed) == [0, 2]  # set aside: no longer trained
    assert np.isfinite(errors[1]) and 0.3 < accuracies[1] <= 1
    assert np.isnan(nets.evaluate(data.test_images, data.test_labels)[1][[0, 2]]).all()
    nets.keep([2, 1])  # an overflowed network kept stays nan; the other goes on as alone
    errors, accuracies = nets.train_pass()
    alone_errors, alone_accuracies = alone.train_pass()
    assert np.isnan(errors[0]) and np.isnan(accuracies[0]) and not np.isfinite(nets.weights([0])[0][1]).all()
    assert errors[1] == pytest.approx(alone_errors[0], rel=1e-12) and accuracies[1] == alone_accuracies[0]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_an_alpha_far_too_large_gives_nan_for_that_network_only(data, recwarn):
    """A network whose weights overflow reports nan, without warnings, and leaves the others alone."""
    nets = Networks(data.images, data.labels, [Run(1, 100, 50.0, True), Run(1, 100, 0.1, True)])
    for _ in range(3):
        errors, accuracies = nets.train_pass(100)
    assert np.isnan(errors[0]) and np.isnan(accuracies[0]) and np.isfinite(errors[1])
    test_errors, test_accuracies = nets.evaluate(data.test_images, data.test_labels)
    assert np.isnan(test_accuracies[0]) and 0.3 < test_accuracies[1] <= 1
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_bad_arguments_are_explained(data):
    """A batch size of 0 or 2.5, no runs, or labels that are not one-hot: a sentence, not a crash inside."""
    nets = Networks(data.images[:20], data.labels[:20], [Run(1, 10, ALPHA)])
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a whole number"):
            nets.train_pass(bad)
    with pytest.raises(ValueError, match="at least one Run"):
        Networks(data.images, data.labels, [])
    with pytest.raises(ValueError, match="one-hot labels"):
        Networks(data.images, np.argmax(data.labels, 1), [Run(1, 10, ALPHA)])


_THREADS_SCRIPT = """
import numpy as np
from helpers import load_lab_data, progress_line
from helpers.many_seeds import Networks, Run
d = load_lab_data()
nets = Networks(d.images, d.labels, [Run(1, 40, 0.005), Run(2, 100, 0.005, True), Run(3, 100, 0.005)])
for j in range(12):
    errors, accuracies = nets.train_pass()
    if j % 5 == 0 or j == 11:
        test_errors, test_accuracies = nets.evaluate(d.test_images, d.test_labels)
        for n in range(3):
            print(progress_line(j, {"Train": (errors[n], accuracies[n]), "Test": (test_errors[n], test_accuracies[n])}))
np.save("weights.npy", np.concatenate([w.ravel() for pair in nets.weights() for w in pair]))
"""


def test_printed_results_do_not_depend_on_the_number_of_blas_threads(tmp_path):
    """nbval compares printed numbers on another machine: with 1 or 2 BLAS threads they print the same.

    Not bit for bit: OpenBLAS splits a product differently over 2 threads and rounds some sums
    differently (about 1e-16 relative). Training carries such differences along without growing
    them much, so every number as the notebooks print it (the book's digits, accuracies as counts
    out of 10,000) comes out the same; the weights agree to far better than 1e-9.
    """
    printed, weights = [], []
    for threads in ("1", "2"):
        folder = tmp_path / threads
        folder.mkdir()
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        done = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], env=env, cwd=folder, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        printed.append(done.stdout)
        weights.append(np.load(folder / "weights.npy"))
    assert printed[0].count("I:") == 12 and printed[0] == printed[1]
    assert np.max(np.abs(weights[0] - weights[1])) < 1e-9


def test_compile_now_compiles_what_training_uses(data):
    """After compile_now() (tasks.py setup, postBuild) a real pass, either loop, compiles nothing more."""
    compile_now()
    compiled = [len(kernel.signatures) for kernel in (helpers.many_seeds._steps, helpers.many_seeds._batch_step)]
    assert compiled == [1, 1]
    nets = Networks(data.images[:300], data.labels[:300], [Run(1, 40, ALPHA), Run(2, 100, ALPHA, True)])
    nets.train_pass()
    nets.train_pass(30)
    assert [len(kernel.signatures) for kernel in (helpers.many_seeds._steps, helpers.many_seeds._batch_step)] == compiled
