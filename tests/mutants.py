"""Wrong answers that beginners really write, one per mistake the graded checks must catch.

Each mutant is a full solution cell: (notebook, solution grade_id, code, the graded cells it must
fail, a phrase the feedback must show). Everything else in the submission is the correct answer.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """One wrong answer and what grading must do with it."""

    notebook: str
    cell: str
    code: str
    fails: tuple[str, ...]
    message: str


_EVALUATE = '''
def evaluate(images, labels, weights_0_1, weights_1_2):
    """A wrong test loop."""
    layer_1 = relu(images @ weights_0_1)
    layer_2 = layer_1 @ weights_1_2
    error = np.sum((labels - layer_2) ** 2) / len(images)
    accuracy = np.mean(np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1))
    return float(error), float(accuracy)
'''

# The right answers that mutants edit (tests/odd_answers.py reuses them too).
FORWARD = '''
def forward(layer_0, weights_0_1, weights_1_2, training):
    """The dropout forward pass."""
    layer_1 = relu(np.dot(layer_0, weights_0_1))
    mask = None
    if training:
        mask = np.random.randint(2, size=layer_1.shape)
        layer_1 = layer_1 * mask * 2
    layer_2 = np.dot(layer_1, weights_1_2)
    return layer_1, layer_2, mask
'''

MINIBATCH = '''
def train_epoch_minibatch(images, labels, weights_0_1, weights_1_2, alpha, batch_size, draw_mask=None):
    """The mini-batch loop."""
    error, correct_cnt = 0.0, 0
    for start in range(0, len(images), batch_size):
        layer_0 = images[start:start + batch_size]
        batch_labels = labels[start:start + batch_size]
        layer_1 = relu(np.dot(layer_0, weights_0_1))
        mask = None
        if draw_mask is not None:
            mask = draw_mask(layer_1.shape)
            layer_1 = layer_1 * mask * 2
        layer_2 = np.dot(layer_1, weights_1_2)
        error += np.sum((batch_labels - layer_2) ** 2)
        correct_cnt += int(np.sum(np.argmax(layer_2, axis=1) == np.argmax(batch_labels, axis=1)))
        layer_2_delta = (batch_labels - layer_2) / len(layer_0)
        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
        if mask is not None:
            layer_1_delta = layer_1_delta * mask
        weights_1_2 += alpha * layer_1.T.dot(layer_2_delta)
        weights_0_1 += alpha * layer_0.T.dot(layer_1_delta)
    return error, correct_cnt
'''

HIDDEN_DELTA = '''
def hidden_delta(layer_2_delta, weights_1_2, layer_1, mask):
    """The hidden delta, with the mask when there is one."""
    layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
    if mask is not None:
        layer_1_delta = layer_1_delta * mask
    return layer_1_delta
'''

_EARLY_STOPPING = '''
def early_stopping(weights, train_one_epoch, validation_accuracy, patience, max_epochs):
    """A wrong early stopping."""
    best_accuracy, best_epoch, best_weights, bad_epochs, scores = -1.0, -1, None, 0, []
    for epoch in range(max_epochs):
        train_one_epoch(weights)
        scores.append(validation_accuracy(weights))
        if scores[-1] > best_accuracy:
            best_accuracy, best_epoch, bad_epochs = scores[-1], epoch, 0
            best_weights = [w.copy() for w in weights]
        else:
            bad_epochs += 1
            if bad_epochs >= patience:
                break
    return best_weights, best_epoch, scores
'''


def _edit(template: str, old: str, new: str) -> str:
    """Return ``template`` with ``old`` replaced by ``new`` (which must occur exactly once)."""
    assert template.count(old) == 1, old
    return template.replace(old, new).strip("\n")


NB1, NB2, NB3, NB4 = "01_overfitting", "02_early_stopping", "03_dropout", "04_minibatch"

MUTANTS = {
    "summed_error": Mutant(
        NB1, "nb01-evaluate", _edit(_EVALUATE, "** 2) / len(images)", "** 2)"),
        ("nb01-test-error",), "is the SUM over"),
    "mean_over_all_numbers": Mutant(
        NB1, "nb01-evaluate", _edit(_EVALUATE, "np.sum((labels - layer_2) ** 2) / len(images)",
                                    "np.mean((labels - layer_2) ** 2)"),
        ("nb01-test-error",), "10 times too small"),
    "forgot_relu": Mutant(
        NB1, "nb01-evaluate", _edit(_EVALUATE, "relu(images @ weights_0_1)", "images @ weights_0_1"),
        # Without the ReLU both numbers are wrong; both checks say why.
        ("nb01-test-error", "nb01-test-accuracy"), "WITHOUT the ReLU"),
    "argmax_wrong_axis": Mutant(
        NB1, "nb01-evaluate", _edit(_EVALUATE, "np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1)",
                                    "np.argmax(layer_2, axis=0) == np.argmax(labels, axis=0)"),
        ("nb01-test-accuracy",), "Take np.argmax(..., axis=1)"),
    "uses_test_set_globals": Mutant(
        NB1, "nb01-evaluate", _edit(_EVALUATE, "relu(images @ weights_0_1)", "relu(test_images @ weights_0_1)")
        .replace("(labels - layer_2) ** 2) / len(images)", "(test_labels - layer_2) ** 2) / len(test_images)")
        .replace("np.argmax(labels, axis=1)", "np.argmax(test_labels, axis=1)"),
        # It ignores the images it is given: every check that also tries other images (all that
        # compare numbers) says so, not only the one about the arguments.
        ("nb01-test-error", "nb01-test-accuracy", "nb01-test-arguments"), "instead of its own arguments"),
    "trains_while_evaluating": Mutant(
        NB1, "nb01-evaluate", _edit(_EVALUATE, "    return float(error), float(accuracy)",
                                    "    weights_1_2 += 0.005 * layer_1.T.dot(labels - layer_2)\n"
                                    "    return float(error), float(accuracy)"),
        ("nb01-test-weights-unchanged",), "changed the weights it was given"),
    "loops_over_rows": Mutant(
        NB1, "nb01-evaluate", '''
def evaluate(images, labels, weights_0_1, weights_1_2):
    """The book's row-by-row test loop."""
    error, correct_cnt = 0.0, 0
    for i in range(len(images)):
        layer_1 = relu(np.dot(images[i:i + 1], weights_0_1))
        layer_2 = np.dot(layer_1, weights_1_2)
        error += np.sum((labels[i:i + 1] - layer_2) ** 2)
        correct_cnt += int(np.argmax(layer_2) == np.argmax(labels[i:i + 1]))
    return error / len(images), correct_cnt / len(images)
'''.strip("\n"),
        ("nb01-test-vectorised",), "one at a time"),
    "stops_on_test_set": Mutant(
        NB2, "nb02-validation-accuracy", '''
def validation_accuracy(weights):
    """Scores on the test set: the mistake early stopping must avoid."""
    return evaluate(test_images, test_labels, weights[0], weights[1])[1]
'''.strip("\n"),
        ("nb02-test-validation",), "measured the TEST set"),
    "patience_never_reset": Mutant(
        NB2, "nb02-early-stopping", _edit(_EARLY_STOPPING, "best_accuracy, best_epoch, bad_epochs = scores[-1], epoch, 0",
                                          "best_accuracy, best_epoch = scores[-1], epoch"),
        ("nb02-test-stopping",), "Start counting the epochs"),
    "returns_last_weights": Mutant(
        NB2, "nb02-early-stopping", _edit(_EARLY_STOPPING, "return best_weights,", "return weights,"),
        ("nb02-test-best-weights",), "weights of the LAST epoch"),
    "no_rescaling": Mutant(
        NB3, "nb03-forward", _edit(FORWARD, "layer_1 * mask * 2", "layer_1 * mask"),
        ("nb03-test-rescale",), "were not rescaled"),
    "scaled_by_keep_probability": Mutant(
        NB3, "nb03-forward", _edit(FORWARD, "layer_1 * mask * 2", "layer_1 * mask * 0.5"),
        ("nb03-test-rescale",), "multiplied by 0.5, the keep probability"),
    "same_mask_every_time": Mutant(
        NB3, "nb03-forward", "_MASKS = {}\n\n" + _edit(
            FORWARD, "        mask = np.random.randint(2, size=layer_1.shape)\n",
            "        mask = _MASKS.setdefault(layer_1.shape, np.random.randint(2, size=layer_1.shape))\n"),
        ("nb03-test-keep-half",), "dropped at every call"),
    "delta_not_masked": Mutant(
        NB3, "nb03-hidden-delta", '''
def hidden_delta(layer_2_delta, weights_1_2, layer_1, mask):
    """Forgets the mask in backprop."""
    return layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
'''.strip("\n"),
        ("nb03-test-delta-mask",), "must get no blame"),
    # `if mask:` fails as soon as there is a mask (NumPy: "truth value ... ambiguous"); the message must
    # say what to write instead, not pass on NumPy's advice (.any(), which fails where mask is None).
    "if_mask_on_an_array": Mutant(
        NB3, "nb03-hidden-delta", _edit(HIDDEN_DELTA, "    if mask is not None:\n", "    if mask:\n"),
        ("nb03-test-delta-mask",), "write `if mask is not None:`"),
    # NumPy's advice followed: right with a mask, fails without one (the run without dropout).
    "mask_any_without_a_mask": Mutant(
        NB3, "nb03-hidden-delta", _edit(HIDDEN_DELTA, "    if mask is not None:\n", "    if mask.any():\n"),
        ("nb03-test-delta-no-mask",), "test it first: `if mask is not None:`"),
    "one_mask_value_for_all_units": Mutant(
        NB3, "nb03-forward", _edit(FORWARD, "np.random.randint(2, size=layer_1.shape)", "np.random.randint(2)"),
        ("nb03-test-mask-per-unit",), "only one mask value, shared by all units"),
    "dropout_at_evaluation": Mutant(
        NB3, "nb03-forward", _edit(FORWARD, "    if training:\n", "    if True:\n"),
        ("nb03-test-eval-no-dropout",), "dropout is still on at evaluation"),
    "updates_inside_per_example_loop": Mutant(
        NB4, "nb04-minibatch", _edit(
            MINIBATCH,
            "        weights_1_2 += alpha * layer_1.T.dot(layer_2_delta)\n"
            "        weights_0_1 += alpha * layer_0.T.dot(layer_1_delta)\n",
            "        for k in range(len(layer_0)):  # the book's printed listing\n"
            "            layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)\n"
            "            if mask is not None:\n"
            "                layer_1_delta = layer_1_delta * mask\n"
            "            weights_1_2 += alpha * layer_1.T.dot(layer_2_delta)\n"
            "            weights_0_1 += alpha * layer_0.T.dot(layer_1_delta)\n"),
        # Its batch moves the weights len(batch) times an average step, so it also fails the
        # averaging check: the printed listing IS an un-averaged update in disguise.
        ("nb04-test-one-update", "nb04-test-average"), "more than once within a batch"),
    # weights_1_2 updated first: the hidden delta then goes back through the new weights. One update
    # per batch all the same, so the message must name the order, not "more than once".
    "updates_before_hidden_delta": Mutant(
        NB4, "nb04-minibatch", _edit(
            MINIBATCH,
            "        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)\n"
            "        if mask is not None:\n"
            "            layer_1_delta = layer_1_delta * mask\n"
            "        weights_1_2 += alpha * layer_1.T.dot(layer_2_delta)\n",
            "        weights_1_2 += alpha * layer_1.T.dot(layer_2_delta)\n"
            "        layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)\n"
            "        if mask is not None:\n"
            "            layer_1_delta = layer_1_delta * mask\n"),
        ("nb04-test-one-update",), "BEFORE layer_1_delta was computed"),
    # Notebook 04's form of the mask trap: no visible check without dropout notices it.
    "if_mask_in_batches": Mutant(
        NB4, "nb04-minibatch", _edit(MINIBATCH, "        if mask is not None:\n", "        if mask:\n"),
        ("nb04-test-dropout-batches",), "write `if mask is not None:`"),
    "delta_not_averaged": Mutant(
        NB4, "nb04-minibatch", _edit(MINIBATCH, "(batch_labels - layer_2) / len(layer_0)", "(batch_labels - layer_2)"),
        ("nb04-test-average",), "added up, not averaged"),
    "drops_last_partial_batch": Mutant(
        NB4, "nb04-minibatch", _edit(MINIBATCH, "range(0, len(images), batch_size)",
                                     "range(0, len(images) // batch_size * batch_size, batch_size)"),
        ("nb04-test-last-batch",), "silently dropped"),
}

ENDLESS_LOOP = '''
def validation_accuracy(weights):
    """Never returns."""
    while True:
        pass
'''.strip("\n")

ENDLESS_EVALUATE = '''
def evaluate(images, labels, weights_0_1, weights_1_2):
    """Never returns."""
    while True:
        pass
'''.strip("\n")

# Correct answers written differently from the solutions: other vectorisations, another fair coin,
# a patience counter, a while loop, other names. Each must earn every point of its notebook.
ALTERNATIVES = {
    NB1: {"nb01-evaluate": '''
def evaluate(images, labels, weights_0_1, weights_1_2):
    """Another vectorisation, numpy scalars returned."""
    hidden = np.maximum(0, images.dot(weights_0_1))
    out = hidden.dot(weights_1_2)
    n = images.shape[0]
    return ((labels - out) ** 2).sum() / n, (out.argmax(axis=1) == labels.argmax(axis=1)).sum() / n
'''.strip("\n")},
    NB2: {"nb02-validation-accuracy": '''
def validation_accuracy(weights):
    """Unpacks first."""
    w01, w12 = weights
    _, accuracy = evaluate(val_images, val_labels, w01, w12)
    return accuracy
'''.strip("\n"), "nb02-early-stopping": '''
def early_stopping(weights, train_one_epoch, validation_accuracy, patience, max_epochs):
    """A patience counter and deepcopy."""
    import copy
    scores, best, best_epoch, best_weights, waited = [], None, 0, copy.deepcopy(weights), 0
    for epoch in range(max_epochs):
        train_one_epoch(weights)
        score = validation_accuracy(weights)
        scores.append(score)
        if best is None or score > best:
            best, best_epoch, best_weights, waited = score, epoch, copy.deepcopy(weights), 0
        else:
            waited += 1
            if waited == patience:
                break
    return best_weights, best_epoch, scores
'''.strip("\n")},
    NB3: {"nb03-forward": '''
def forward(layer_0, weights_0_1, weights_1_2, training):
    """A boolean mask from np.random.random, rescaled by 1 / keep."""
    layer_1 = relu(layer_0 @ weights_0_1)
    mask = None
    if training:
        keep = 0.5
        mask = np.random.random(layer_1.shape) < keep
        layer_1 = layer_1 * mask / keep
    return layer_1, layer_1 @ weights_1_2, mask
'''.strip("\n"), "nb03-hidden-delta": '''
def hidden_delta(layer_2_delta, weights_1_2, layer_1, mask):
    """One expression."""
    delta = (layer_2_delta @ weights_1_2.T) * relu2deriv(layer_1)
    return delta if mask is None else delta * mask
'''.strip("\n")},
    NB4: {"nb04-minibatch": '''
def train_epoch_minibatch(images, labels, weights_0_1, weights_1_2, alpha, batch_size, draw_mask=None):
    """A while loop, @ and in-place *=."""
    total_error, total_correct, start = 0.0, 0, 0
    while start < len(images):
        x, y = images[start:start + batch_size], labels[start:start + batch_size]
        start += batch_size
        hidden = relu(x @ weights_0_1)
        mask = draw_mask(hidden.shape) if draw_mask else None
        if mask is not None:
            hidden = hidden * mask * 2
        out = hidden @ weights_1_2
        total_error += float(((y - out) ** 2).sum())
        total_correct += int((out.argmax(1) == y.argmax(1)).sum())
        delta_out = (y - out) / x.shape[0]
        delta_hidden = delta_out @ weights_1_2.T * relu2deriv(hidden)
        if mask is not None:
            delta_hidden *= mask
        weights_1_2 += alpha * hidden.T @ delta_out
        weights_0_1 += alpha * x.T @ delta_hidden
    return total_error, total_correct
'''.strip("\n")},
}


# ---------------------------------------------------------------------------------------------
# Notebook 05 (evidence over ten seeds): wrong summaries of the seeds' results.
# ---------------------------------------------------------------------------------------------
NB5 = "05_evidence"

_SPREAD = '''
def spread(values):
    """A wrong summary of the seeds."""
    values = np.asarray(values, dtype=float)
    return float(np.mean(values)), float(np.std(values, ddof=1)), float(np.min(values)), float(np.max(values))
'''

_SPREADS_AWAY = '''
def spreads_away(value, values):
    """A wrong distance from the mean."""
    mean, std = np.mean(values), np.std(values, ddof=1)
    return (value - mean) / std
'''

MUTANTS.update({
    "population_std": Mutant(
        NB5, "nb05-spread", _edit(_SPREAD, "np.std(values, ddof=1)", "np.std(values)"),
        ("nb05-test-spread", "nb05-test-spread-more"), "divides by n"),
    "variance_not_std": Mutant(
        NB5, "nb05-spread", _edit(_SPREAD, "np.std(values, ddof=1)", "np.var(values, ddof=1)"),
        ("nb05-test-spread", "nb05-test-spread-more"), "is the variance"),
    "lowest_highest_swapped": Mutant(
        NB5, "nb05-spread", _edit(_SPREAD, "float(np.min(values)), float(np.max(values))",
                                  "float(np.max(values)), float(np.min(values))"),
        ("nb05-test-spread", "nb05-test-spread-more"), "are swapped"),
    "sorts_the_callers_list": Mutant(
        NB5, "nb05-spread", '''
def spread(values):
    """Sorts the list it was given, in place."""
    values.sort()
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return mean, std, values[0], values[-1]
'''.strip("\n"),
        ("nb05-test-spread-more",), "changed the list it was given"),
    "distance_not_divided": Mutant(
        NB5, "nb05-spreads-away", _edit(_SPREADS_AWAY, "return (value - mean) / std", "return value - mean"),
        ("nb05-test-spreads-away", "nb05-test-spreads-away-more"), "distance from the mean (0.025) itself"),
    "sign_reversed": Mutant(
        NB5, "nb05-spreads-away", _edit(_SPREADS_AWAY, "return (value - mean) / std", "return (mean - value) / std"),
        ("nb05-test-spreads-away", "nb05-test-spreads-away-more"), "sign is reversed"),
    "spreads_with_n": Mutant(
        NB5, "nb05-spreads-away", _edit(_SPREADS_AWAY, "np.std(values, ddof=1)", "np.std(values)"),
        ("nb05-test-spreads-away", "nb05-test-spreads-away-more"), "standard deviation with n"),
    "absolute_distance": Mutant(
        NB5, "nb05-spreads-away", _edit(_SPREADS_AWAY, "return (value - mean) / std", "return abs(value - mean) / std"),
        ("nb05-test-spreads-away", "nb05-test-spreads-away-more"), "do not take the absolute value"),
})

# Correct answers written another way: the statistics module, plain Python, spread() reused.
ALTERNATIVES[NB5] = {"nb05-spread": '''
def spread(values):
    """The statistics module: stdev is the sample standard deviation (n - 1)."""
    import statistics
    numbers = [float(v) for v in values]
    return statistics.mean(numbers), statistics.stdev(numbers), min(numbers), max(numbers)
'''.strip("\n"), "nb05-spreads-away": '''
def spreads_away(value, values):
    """Reuses spread()."""
    mean, std, _, _ = spread(values)
    return (value - mean) / std
'''.strip("\n")}
