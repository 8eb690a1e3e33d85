"""Odd answers: what a placeholder may hand back or do besides being right or plainly wrong.

None, text, dicts, arrays where one number is expected, nan and infinity, wrong shapes, generators,
an object that agrees with every comparison, an exception, sys.exit(), a cell that does not even
compile, a flood of printing, a warning, and answers hard-coded to what the visible checks expect.
Each lost check must say so in a CheckFailed sentence, never a traceback. One submission per entry
(student ``odd_<notebook>_<kind>``, that notebook only): where a notebook has two placeholders, both
get the odd answer of the same kind, since their checks are disjoint and every submission costs
seconds of grading.
"""
from __future__ import annotations

from dataclasses import dataclass

from mutants import FORWARD, HIDDEN_DELTA, MINIBATCH, NB1, NB2, NB3, NB4

NB5 = "05_evidence"


@dataclass(frozen=True)
class OddAnswer:
    """Answer cells (grade_id -> code) of one notebook, the checks they must lose, words every loss shows."""

    notebook: str
    answers: dict[str, str]
    loses: tuple[str, ...]
    says: tuple[str, ...]  # each lost check's message holds one of these


# An object that answers True to every comparison: a check that compared raw values would pass it.
_AGREEABLE = '''
class Agreeable:
    """Equal to, less than and greater than anything; true; 1.0 as a float; its distance to anything is 0."""

    def __eq__(self, other):
        return True

    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __bool__(self):
        return True

    def __float__(self):
        return 1.0

    def __sub__(self, other):
        return self

    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __sub__

    def __abs__(self):
        return 0.0

'''

_NB1_ALL = ("nb01-test-error", "nb01-test-accuracy", "nb01-test-arguments", "nb01-test-weights-unchanged",
            "nb01-test-vectorised")
_NB2_ALL = ("nb02-test-validation", "nb02-test-stopping", "nb02-test-best-weights", "nb02-test-more-runs")
_NB2_STOPPING = ("nb02-test-stopping", "nb02-test-best-weights", "nb02-test-more-runs")
_NB3_FORWARD = ("nb03-test-eval-no-dropout", "nb03-test-rescale", "nb03-test-mask-per-unit", "nb03-test-keep-half")
_NB3_DELTA = ("nb03-test-delta-mask", "nb03-test-delta-no-mask")
_NB4_ALL = ("nb04-test-returns", "nb04-test-one-update", "nb04-test-average", "nb04-test-last-batch",
            "nb04-test-dropout-batches")
_NB4_RETURN = ("nb04-test-returns", "nb04-test-dropout-batches")
_NB5_ALL = ("nb05-test-spread", "nb05-test-spread-more", "nb05-test-spreads-away", "nb05-test-spreads-away-more")


def _evaluate(body: str) -> dict[str, str]:
    """Return notebook 01's answer: evaluate() with the given body (4-space indented lines)."""
    return {"nb01-evaluate": "def evaluate(images, labels, weights_0_1, weights_1_2):\n" + body.strip("\n")}


# The correct early stopping with one line swapped for another (the swap must match exactly once).
_STOPPING = '''
def early_stopping(weights, train_one_epoch, validation_accuracy, patience, max_epochs):
    """Early stopping."""
    best_accuracy, best_epoch = -np.inf, -1
    best_weights = [w.copy() for w in weights]
    scores = []
    for epoch in range(max_epochs):
        train_one_epoch(weights)
        accuracy = validation_accuracy(weights)
        scores.append(accuracy)
        if accuracy > best_accuracy:
            best_accuracy, best_epoch = accuracy, epoch
            best_weights = [w.copy() for w in weights]
        elif epoch - best_epoch >= patience:
            break
    return best_weights, best_epoch, scores
'''.strip("\n")

_FORWARD = FORWARD.strip("\n")

_DELTA = HIDDEN_DELTA.strip("\n")

_MINIBATCH = MINIBATCH.strip("\n")


def _swap(template: str, old: str, new: str) -> str:
    """Return ``template`` with ``old`` replaced by ``new`` (which must occur exactly once)."""
    assert template.count(old) == 1, old
    return template.replace(old, new)


ODD_ANSWERS: dict[str, OddAnswer] = {
    # -- 01: evaluate() returns (error, accuracy) -------------------------------------------------
    "odd_01_overfitting_none": OddAnswer(NB1, _evaluate('''
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    error = np.sum((labels - layer_2) ** 2) / len(images)
    accuracy = np.mean(np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1))
    print(error, accuracy)  # shows the numbers, but hands nothing back
'''), _NB1_ALL, ("None",)),
    "odd_01_overfitting_text": OddAnswer(NB1, _evaluate('''
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    error = np.sum((labels - layer_2) ** 2) / len(images)
    accuracy = np.mean(np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1))
    return f"{error:.6f}", f"{accuracy:.4f}"  # formatted for printing
'''), _NB1_ALL, ("text",)),
    "odd_01_overfitting_dict": OddAnswer(NB1, _evaluate('''
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    error = np.sum((labels - layer_2) ** 2) / len(images)
    accuracy = np.mean(np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1))
    return {"error": error, "accuracy": accuracy}
'''), _NB1_ALL, ("dict",)),
    "odd_01_overfitting_arrays": OddAnswer(NB1, _evaluate('''
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    errors = np.sum((labels - layer_2) ** 2, axis=1)  # one error per image: never averaged
    hits = np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1)  # one truth value per image
    return errors, hits
'''), _NB1_ALL, ("array of shape",)),
    "odd_01_overfitting_inf_nan": OddAnswer(NB1, _evaluate('''
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    error = np.sum((labels - layer_2) ** 2) / np.sum(images > 1)  # pixels are at most 1: divides by 0
    accuracy = np.mean(np.argmax(layer_2, axis=1)[labels.sum(axis=1) > 1])  # no row qualifies: mean of nothing
    return error, accuracy
'''), _NB1_ALL, ("infinite", "nan (not a number)")),
    "odd_01_overfitting_generator": OddAnswer(NB1, _evaluate('''
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    yield np.sum((labels - layer_2) ** 2) / len(images)
    yield np.mean(np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1))
'''), _NB1_ALL, ("generator",)),
    "odd_01_overfitting_always_true": OddAnswer(NB1, {"nb01-evaluate": _AGREEABLE + _evaluate('''
    return Agreeable(), Agreeable()
''')["nb01-evaluate"]}, _NB1_ALL, ("object of type Agreeable",)),
    "odd_01_overfitting_raises": OddAnswer(NB1, _evaluate('''
    layer_1 = relu(images @ weights_0_1)
    layer_2 = images @ weights_1_2  # the wrong matrix: (n, 784) @ (hidden, 10)
    error = np.sum((labels - layer_2) ** 2) / len(images)
    return error, np.mean(np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1))
'''), _NB1_ALL, ("ValueError",)),
    # Right answer, but every call prints a line per image and sets off a numpy warning (on stderr,
    # which nbgrader takes for an error): neither may cost a point; nbgrader cuts the output.
    "odd_01_overfitting_flood": OddAnswer(NB1, _evaluate('''
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    for i in range(len(images)):
        print("image", i, "checked")
    confidence = np.log(layer_2)  # a look at the outputs; negative ones give a RuntimeWarning
    error = np.sum((labels - layer_2) ** 2) / len(images)
    accuracy = np.mean(np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1))
    return float(error), float(accuracy)
'''), (), ()),
    # The numbers the visible checks print as expected: every check, visible ones included, also
    # tries another network, so an answer that ignores its arguments loses them all.
    "odd_01_overfitting_hardcoded": OddAnswer(NB1, _evaluate('''
    return 1.0661408024532062, 0.1405
'''), _NB1_ALL, ("same", "another network")),

    # -- 02: validation_accuracy() returns one number; early_stopping() three values --------------
    "odd_02_early_stopping_none": OddAnswer(NB2, {
        "nb02-validation-accuracy": '''
def validation_accuracy(weights):
    """Computes the score, hands nothing back."""
    accuracy = evaluate(val_images, val_labels, weights[0], weights[1])[1]
''',
        "nb02-early-stopping": _swap(_STOPPING, "    return best_weights, best_epoch, scores", "    print(best_epoch)"),
    }, _NB2_ALL, ("None",)),
    "odd_02_early_stopping_text_dict": OddAnswer(NB2, {
        "nb02-validation-accuracy": '''
def validation_accuracy(weights):
    """A percentage, as text."""
    return f"{evaluate(val_images, val_labels, weights[0], weights[1])[1]:.2%}"
''',
        "nb02-early-stopping": _swap(_STOPPING, "    return best_weights, best_epoch, scores",
                                     '    return {"weights": best_weights, "epoch": best_epoch, "scores": scores}'),
    }, _NB2_ALL, ("text", "dict")),
    "odd_02_early_stopping_arrays": OddAnswer(NB2, {
        "nb02-validation-accuracy": '''
def validation_accuracy(weights):
    """Right or wrong per image, never averaged."""
    outputs = relu(val_images @ weights[0]) @ weights[1]
    return np.argmax(outputs, axis=1) == np.argmax(val_labels, axis=1)
''',
        # np.where gives an array holding the epoch, not the epoch; the best weights are right.
        "nb02-early-stopping": _swap(_STOPPING, "    return best_weights, best_epoch, scores",
                                     "    return best_weights, np.where(np.array(scores) == max(scores))[0], scores"),
    }, ("nb02-test-validation", "nb02-test-stopping", "nb02-test-more-runs"), ("array of shape",)),
    "odd_02_early_stopping_generator": OddAnswer(NB2, {
        "nb02-validation-accuracy": '''
def validation_accuracy(weights):
    """Yields instead of returning."""
    yield evaluate(val_images, val_labels, weights[0], weights[1])[1]
''',
        "nb02-early-stopping": _swap(_STOPPING, "        scores.append(accuracy)\n",
                                     "        scores.append(accuracy)\n        yield epoch, accuracy\n"),
    }, _NB2_ALL, ("generator",)),
    "odd_02_early_stopping_always_true": OddAnswer(NB2, {
        "nb02-validation-accuracy": _AGREEABLE + '''
def validation_accuracy(weights):
    """Agrees with every check."""
    return Agreeable()
''',
        "nb02-early-stopping": '''
def early_stopping(weights, train_one_epoch, validation_accuracy, patience, max_epochs):
    """Agrees with every check."""
    return Agreeable(), Agreeable(), Agreeable()
''',
    }, _NB2_ALL, ("object of type Agreeable",)),
    "odd_02_early_stopping_raises": OddAnswer(NB2, {
        "nb02-validation-accuracy": '''
def validation_accuracy(weights):
    """Passes the weights list where evaluate() wants two arrays."""
    return evaluate(val_images, val_labels, weights)[1]
''',
        "nb02-early-stopping": _swap(_STOPPING, "        train_one_epoch(weights)\n",
                                     "        train_one_epoch(weights, alpha)\n"),  # no alpha here
    }, _NB2_ALL, ("TypeError", "does not exist")),
    # sys.exit() to stop the loop once patience runs out: ends the check, not the program.
    "odd_02_early_stopping_sys_exit": OddAnswer(NB2, {
        "nb02-early-stopping": "import sys\n\n" + _swap(_STOPPING, "            break", "            sys.exit()"),
    }, _NB2_STOPPING, ("end the program",)),
    "odd_02_early_stopping_hardcoded": OddAnswer(NB2, {
        "nb02-validation-accuracy": '''
def validation_accuracy(weights):
    """The accuracy the visible check expects for its network."""
    return 0.0818
''',
        "nb02-early-stopping": '''
def early_stopping(weights, train_one_epoch, validation_accuracy, patience, max_epochs):
    """What the two visible runs expect, told apart by their patience."""
    if patience == 3:
        return [np.full(3, 3.0), np.full((2, 2), 3.0)], 2, [0.50, 0.60, 0.70, 0.65, 0.66, 0.64]
    return [np.full(3, 4.0), np.full((2, 2), 4.0)], 3, [0.10, 0.30, 0.20, 0.40, 0.35, 0.33]
''',
    }, _NB2_ALL, ("network", "epochs", "another run")),

    # -- 03: forward() returns (layer_1, layer_2, mask); hidden_delta() one array -------------------
    "odd_03_dropout_none": OddAnswer(NB3, {
        "nb03-forward": _swap(_FORWARD, "    return layer_1, layer_2, mask", "    print(layer_2.shape)"),
        "nb03-hidden-delta": _swap(_DELTA, "    return layer_1_delta", "    layer_1_delta"),
    }, _NB3_FORWARD + _NB3_DELTA, ("None",)),
    "odd_03_dropout_wrong_count": OddAnswer(NB3, {
        "nb03-forward": _swap(_FORWARD, "    return layer_1, layer_2, mask", "    return layer_1, layer_2"),
        "nb03-hidden-delta": _swap(_DELTA, "    return layer_1_delta", "    return layer_1_delta, mask"),
    }, _NB3_FORWARD + _NB3_DELTA, ("2 items", "shape")),
    "odd_03_dropout_shapes": OddAnswer(NB3, {
        # One column per image instead of one row: every array comes out transposed.
        "nb03-forward": _swap(_swap(_FORWARD, "relu(np.dot(layer_0, weights_0_1))", "relu(np.dot(weights_0_1.T, layer_0.T))"),
                              "np.dot(layer_1, weights_1_2)", "np.dot(weights_1_2.T, layer_1)"),
        "nb03-hidden-delta": _swap(_DELTA, "    return layer_1_delta", "    return layer_1_delta.T"),
    }, _NB3_FORWARD + _NB3_DELTA, ("shape",)),
    # Divides by the mask instead of multiplying: inf and nan wherever a unit is dropped.
    "odd_03_dropout_nan": OddAnswer(NB3, {
        "nb03-forward": _swap(_FORWARD, "layer_1 * mask * 2", "layer_1 / mask * 2"),
        "nb03-hidden-delta": _swap(_DELTA, "layer_1_delta * mask", "layer_1_delta / mask"),
    }, ("nb03-test-rescale", "nb03-test-mask-per-unit", "nb03-test-keep-half", "nb03-test-delta-mask"),
        ("nan (not a number)", "infinite")),
    "odd_03_dropout_generator": OddAnswer(NB3, {
        "nb03-forward": _swap(_FORWARD, "    return layer_1, layer_2, mask", "    yield layer_1, layer_2, mask"),
        "nb03-hidden-delta": _swap(_DELTA, "    return layer_1_delta", "    yield layer_1_delta"),
    }, _NB3_FORWARD + _NB3_DELTA, ("generator",)),
    "odd_03_dropout_always_true": OddAnswer(NB3, {
        "nb03-forward": _AGREEABLE + '''
def forward(layer_0, weights_0_1, weights_1_2, training):
    """Agrees with every check."""
    return Agreeable(), Agreeable(), (None if not training else Agreeable())
''',
        "nb03-hidden-delta": _AGREEABLE + '''
def hidden_delta(layer_2_delta, weights_1_2, layer_1, mask):
    """Agrees with every check."""
    return Agreeable()
''',
    }, _NB3_FORWARD + _NB3_DELTA, ("object of type Agreeable",)),
    # size= forgotten: the shape becomes randint's upper bound; the delta uses the wrong product.
    "odd_03_dropout_raises": OddAnswer(NB3, {
        "nb03-forward": _swap(_FORWARD, "np.random.randint(2, size=layer_1.shape)", "np.random.randint(2, layer_1.shape)"),
        "nb03-hidden-delta": _swap(_DELTA, "layer_2_delta.dot(weights_1_2.T)", "layer_2_delta.dot(weights_1_2)"),
    }, ("nb03-test-rescale", "nb03-test-mask-per-unit", "nb03-test-keep-half") + _NB3_DELTA, ("ValueError",)),
    # Prints every activation and forgets to return; the hidden delta is right and keeps its points.
    "odd_03_dropout_flood": OddAnswer(NB3, {
        "nb03-forward": _swap(_FORWARD, "    return layer_1, layer_2, mask",
                              "    for value in layer_1.flat:\n        print(value)"),
    }, _NB3_FORWARD, ("None",)),

    # -- 04: train_epoch_minibatch() trains in place and returns (summed error, number correct) ---
    # The training is right; only what comes back is odd, so only the checks of the return value fail.
    "odd_04_minibatch_none": OddAnswer(NB4, {
        "nb04-minibatch": _swap(_MINIBATCH, "    return error, correct_cnt", "    print(error, correct_cnt)"),
    }, _NB4_RETURN, ("None",)),
    "odd_04_minibatch_arrays": OddAnswer(NB4, {
        "nb04-minibatch": _swap(_swap(_MINIBATCH, "error += np.sum((batch_labels - layer_2) ** 2)",
                                      "error = error + np.sum((batch_labels - layer_2) ** 2, axis=1)"),
                                "    return error, correct_cnt",
                                "    return error, np.argmax(layer_2, axis=1) == np.argmax(batch_labels, axis=1)"),
    }, _NB4_RETURN, ("array of shape",)),
    # Divides by (rows - batch_size), 0 for a full batch: the weights fill with inf and nan.
    "odd_04_minibatch_nan": OddAnswer(NB4, {
        "nb04-minibatch": _swap(_MINIBATCH, "(batch_labels - layer_2) / len(layer_0)",
                                "(batch_labels - layer_2) / (len(layer_0) - batch_size)"),
    }, _NB4_ALL, ("nan (not a number)", "infinite")),
    "odd_04_minibatch_generator": OddAnswer(NB4, {
        "nb04-minibatch": _swap(_MINIBATCH, "    return error, correct_cnt", "        yield error, correct_cnt"),
    }, _NB4_ALL, ("generator",)),
    "odd_04_minibatch_raises": OddAnswer(NB4, {
        "nb04-minibatch": _swap(_MINIBATCH, "layer_0.T.dot(layer_1_delta)", "layer_0.dot(layer_1_delta)"),
    }, _NB4_ALL, ("ValueError",)),
    # A colon forgotten: the cell fails, so the function never exists; every check says so.
    "odd_04_minibatch_syntax_error": OddAnswer(NB4, {
        "nb04-minibatch": _swap(_MINIBATCH, "range(0, len(images), batch_size):", "range(0, len(images), batch_size)"),
    }, _NB4_ALL, ("not defined yet",)),
    # Moves the weights by a fixed step whatever the data and returns the visible check's numbers.
    "odd_04_minibatch_hardcoded": OddAnswer(NB4, {
        "nb04-minibatch": '''
def train_epoch_minibatch(images, labels, weights_0_1, weights_1_2, alpha, batch_size, draw_mask=None):
    """Looks like training to the visible checks."""
    weights_0_1 += alpha * float(np.any(weights_1_2 != 0))
    weights_1_2 += alpha
    return 7.9544950238973895, 2
''',
    }, _NB4_ALL, ("mask", "forward pass", "error", "other images", "another image")),

    # -- 05: spread() returns (mean, std, lowest, highest); spreads_away() one number ---------------
    "odd_05_evidence_none": OddAnswer(NB5, {
        "nb05-spread": '''
def spread(values):
    """Prints the summary instead of handing it back."""
    print(np.mean(values), np.std(values, ddof=1), np.min(values), np.max(values))
''',
        "nb05-spreads-away": '''
def spreads_away(value, values):
    """Computes the distance, hands nothing back."""
    distance = (value - np.mean(values)) / np.std(values, ddof=1)
''',
    }, _NB5_ALL, ("None",)),
    "odd_05_evidence_text_dict": OddAnswer(NB5, {
        "nb05-spread": '''
def spread(values):
    """A summary with names."""
    return {"mean": np.mean(values), "std": np.std(values, ddof=1), "min": np.min(values), "max": np.max(values)}
''',
        "nb05-spreads-away": '''
def spreads_away(value, values):
    """Formatted for printing."""
    return f"{(value - np.mean(values)) / np.std(values, ddof=1):+.2f} spreads"
''',
    }, _NB5_ALL, ("dict", "text")),
    # ddof=len(values) divides by 0; a spread of nothing divides the distance by 0.
    "odd_05_evidence_inf_nan": OddAnswer(NB5, {
        "nb05-spread": '''
def spread(values):
    """Divides the squared differences by n - n."""
    return np.mean(values), np.std(values, ddof=len(values)), np.min(values), np.max(values)
''',
        "nb05-spreads-away": '''
def spreads_away(value, values):
    """Divides by the difference of two equal spreads."""
    return (value - np.mean(values)) / (np.std(values, ddof=1) - np.std(values, ddof=1))
''',
    }, _NB5_ALL, ("infinite", "nan (not a number)")),
    "odd_05_evidence_always_true": OddAnswer(NB5, {
        "nb05-spread": _AGREEABLE + '''
def spread(values):
    """Agrees with every check."""
    return Agreeable(), Agreeable(), Agreeable(), Agreeable()
''',
        "nb05-spreads-away": _AGREEABLE + '''
def spreads_away(value, values):
    """Agrees with every check."""
    return Agreeable()
''',
    }, _NB5_ALL, ("object of type Agreeable",)),
    # The numbers the visible checks expect; the hidden checks try other values.
    "odd_05_evidence_hardcoded": OddAnswer(NB5, {
        "nb05-spread": '''
def spread(values):
    """What the visible check expects for its four seeds."""
    return 0.805, 0.0129099, 0.79, 0.82
''',
        "nb05-spreads-away": '''
def spreads_away(value, values):
    """What the visible check expects, told apart by the value."""
    return 1.936492 if value > 0.8 else -1.161895
''',
    }, _NB5_ALL, ("should return", "should be")),
}
