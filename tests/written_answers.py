"""Written answers in the synthetic class, and the grades a person gives some of them in the formgrader.

Every submission written from the solutions answers the written questions with the model answers;
the untouched copy leaves the placeholder. One student whose code is right answers notebook 03's
questions the way the rubric's commonest wrong answers go. After autograding, the tests grade by
hand (instructor/written.py, nbgrader's API) what HAND_GRADES says; every other answer stays
waiting for a grader, as in a class the instructor has not graded yet.
"""
from __future__ import annotations

from dataclasses import dataclass

from instructor.course import ROOT, written_points

NB3 = "03_dropout"
WRONG_STUDENT = "other_way_03_dropout"  # right code written differently (tests/mutants.py), wrong written answers
WRONG = {
    "nb03-written-two-answer": (
        "The 2 in `randint(2, ...)` is the upper bound, which is left out, so the mask is 0 or 1: a coin for "
        "each unit. The `* 2` makes the network learn twice as fast, to make up for the units that are off."),
    "nb03-written-training-accuracy-answer": (
        "Yes, it is a problem: with half of the units off the network learned less, so it is worse."),
}


@dataclass(frozen=True)
class HandGrade:
    """Points and a comment a grader gives one written answer."""

    student: str
    notebook: str
    question: str
    points: float
    comment: str


HAND_GRADES = [
    *(HandGrade("complete", notebook, question, points, f"Full marks ({question}): clear and complete.")
      for (notebook, question), points in written_points(ROOT).items()),
    HandGrade(WRONG_STUDENT, NB3, "nb03-written-two-answer", 1,
              "The first 2 is right. The `* 2` scales the signal, not the step: half of the units are off, so the "
              "kept ones are doubled to keep the next layer's average input what it is at evaluation."),
    HandGrade(WRONG_STUDENT, NB3, "nb03-written-training-accuracy-answer", 0,
              "Compare the test accuracies: 81.81 % against 72.1 %. What did it not learn, and would that have "
              "helped on new images?"),
]
