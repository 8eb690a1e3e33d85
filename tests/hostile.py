"""Submissions that crash, cheat or try to read the hidden checks: grading must stay exactly right.

Each entry replaces some answer cells of an otherwise complete submission (every notebook), or
damages a file. ``points`` is the total the student must get: what the honest part earns.
"""
from __future__ import annotations

from dataclasses import dataclass, field

NB1, NB2, NB3, NB4, NB5 = "01_overfitting", "02_early_stopping", "03_dropout", "04_minibatch", "05_evidence"
FULL = {NB1: 7, NB2: 7, NB3: 10, NB4: 8, NB5: 5}


@dataclass(frozen=True)
class Hostile:
    """One crashing or cheating submission and the grade it must get."""

    answers: dict[tuple[str, str], str]  # (notebook, answer grade_id) -> code
    points: dict[str, float] | str  # notebook -> points it must earn, or the student it must equal
    says: dict[str, str] = field(default_factory=dict)  # notebook -> words its feedback must show
    truncate: str | None = None  # a notebook whose file is cut off after its first 2,000 bytes
    flagged: tuple[str, ...] = ()  # phrases the integrity scan must report for this student


WRONG_EVALUATE = '''
def evaluate(images, labels, weights_0_1, weights_1_2):
    """Measures nothing."""
    return 0.0, 0.0
'''

_RIGHT_EVALUATE = '''
def evaluate(images, labels, weights_0_1, weights_1_2):
    """The right test loop, with something extra."""
    {extra}
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    error = np.sum((labels - layer_2) ** 2) / len(images)
    accuracy = np.mean(np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1))
    return float(error), float(accuracy)
'''

_EARLY_STOPPING_THAT_EXITS = '''
def early_stopping(weights, train_one_epoch, validation_accuracy, patience, max_epochs):
    """Ends the Python process."""
    import os
    os._exit(1)
'''

HOSTILE: dict[str, Hostile] = {
    # the yardstick for the cheats below: the same wrong answer, handed in honestly
    "honest_wrong_evaluate": Hostile({(NB1, "nb01-evaluate"): WRONG_EVALUATE}, {**FULL, NB1: None}),
    # 1. crashes: only the notebook that crashes loses, and only from the crash on
    "kernel_exits_in_02": Hostile(
        {(NB2, "nb02-early-stopping"): _EARLY_STOPPING_THAT_EXITS},
        {**FULL, NB2: 2}, {NB2: "ended itself with exit code 1"}),
    "segfault_in_04": Hostile(
        {(NB4, "nb04-minibatch"): '''
def train_epoch_minibatch(images, labels, weights_0_1, weights_1_2, alpha, batch_size, draw_mask=None):
    """Reads memory at address 0."""
    import ctypes
    return ctypes.string_at(0)
'''},
        {**FULL, NB4: 0}, {NB4: "segmentation fault"}, flagged=("ctypes",)),
    "killed_like_out_of_memory_in_01": Hostile(
        {(NB1, "nb01-evaluate"): _RIGHT_EVALUATE.format(extra="import os, signal; os.kill(os.getpid(), signal.SIGKILL)")},
        {**FULL, NB1: 0}, {NB1: "ran out of memory"}, flagged=("os.kill",)),
    "exit_left_in_a_cell_03": Hostile(
        {(NB3, "nb03-hidden-delta"): "exit()"},  # appended to the right answer (see write_hostile)
        {**FULL, NB3: 0}, {NB3: "exit() or quit()"}, flagged=("exit()",)),
    "too_much_memory_in_01": Hostile(
        {(NB1, "nb01-evaluate"): _RIGHT_EVALUATE.format(extra="hog = [np.ones(10 ** 8) for _ in range(200)]")},
        {**FULL, NB1: 0}, {NB1: "ran out of memory"}),
    "truncated_03": Hostile({}, {**FULL, NB3: 0}, {NB3: "not a complete notebook file"}, truncate=NB3),
    # 2. cheats: rebinding what the checks use earns nothing
    "rebinds_check": Hostile(
        {(NB1, "nb01-evaluate"): "import helpers, helpers.grading\n"
                                 "helpers.check = helpers.grading.check = lambda c, m: None\n" + WRONG_EVALUATE},
        "honest_wrong_evaluate", flagged=("helpers.check",)),
    "rebinds_numpy_and_builtins": Hostile(
        {(NB1, "nb01-evaluate"): "import builtins\nnp.isclose = lambda *a, **k: True\nnp.allclose = np.isclose\n"
                                 "np.array_equal = np.isclose\nbuiltins.all = lambda *a: True\n" + WRONG_EVALUATE},
        "honest_wrong_evaluate", flagged=("np.isclose", "builtins.all")),
    "replaces_checkfailed": Hostile(
        {(NB1, "nb01-evaluate"): "import helpers.grading\nhelpers.grading.CheckFailed = type('Ok', (), {})\n"
                                 "setattr(helpers.grading, 'failure', lambda *a, **k: None)\n" + WRONG_EVALUATE},
        "honest_wrong_evaluate", flagged=("helpers.grading.CheckFailed", "setattr")),
    "shows_a_value_as_partial_credit": Hostile(
        {(NB1, "nb01-evaluate"): WRONG_EVALUATE.replace('"""Measures nothing."""',
                                                        '"""Measures nothing."""\n    import sys\n    sys.displayhook(7.0)')},
        "honest_wrong_evaluate", flagged=("sys.displayhook",)),
    # 3. honest answers that write to stderr keep their points
    "right_but_warns": Hostile(
        {(NB1, "nb01-evaluate"): _RIGHT_EVALUATE.format(
            extra="import sys, warnings; warnings.warn('just a warning'); print('note', file=sys.stderr)")},
        FULL),
    # 4. reading the hidden checks: nothing of them reaches the feedback
    "prints_the_callers_code": Hostile(
        {(NB1, "nb01-evaluate"): _RIGHT_EVALUATE.format(
            extra="import traceback; traceback.print_stack()")},
        FULL, flagged=("traceback",)),
    # Frees memory once evaluate() is written: the checks bring their own test set (they run in the
    # grader), so a right evaluate() keeps every point whatever its notebook did to its own variables.
    "deletes_test_images": Hostile(
        {(NB1, "nb01-evaluate"): _RIGHT_EVALUATE.format(extra="pass") + "\n\ndel test_images, test_labels\n"},
        FULL),
    "returns_an_array": Hostile(
        {(NB1, "nb01-evaluate"): '''
def evaluate(images, labels, weights_0_1, weights_1_2):
    """Returns arrays instead of numbers."""
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    return (labels - layer_2) ** 2, np.argmax(layer_2, axis=1)
'''},
        # Every check of notebook 01 needs evaluate()'s two numbers first (even "leaves the weights
        # unchanged" compares two networks' answers), so arrays earn none of its 7 points.
        {**FULL, NB1: 0}),
}


def write_hostile(course, student: str, hostile: Hostile) -> None:
    """Write ``hostile`` as a complete submission of every notebook with its answers swapped in."""
    from instructor.course import solution_answers, write_submission

    for notebook, answers in solution_answers(course).items():
        mine = dict(answers)
        for (where, cell), code in hostile.answers.items():
            if where == notebook:
                mine[cell] = answers[cell] + "\n\n" + code if code == "exit()" else code
        path = write_submission(course, student, notebook, mine)
        if hostile.truncate == notebook:
            path.write_bytes(path.read_bytes()[:2000])
