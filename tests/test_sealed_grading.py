"""Sealed grading end to end: answers that attack the grader from their own kernel earn nothing, reach nothing
and leave nothing behind (tests/sealed.py, graded with the session's class through real nbgrader).

A probe's claims are also tried once without the sandbox (`--no-sandbox`), on a scratch course of
its own: there they do find the answers, the secret and the network, so their silence in the
sandbox means something.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import psutil
import pytest

from conftest import PROBE_MARKER, PROBE_SECRET, autograde
from hostile import FULL
from instructor.course import ASSIGNMENT, cell_scores, make_scratch_course, nbgrader, solution_answers, write_submission
from sealed import NB1, PROBES, probe_code


def _points(course: Path, student: str) -> float:
    """Return what ``student`` earned on notebook 01."""
    return sum(score or 0 for (notebook, _), (score, _) in cell_scores(course, student).items() if notebook == NB1)


def _report(course: Path, student: str) -> dict:
    """Return what the probe said it saw (its PROBE line in the autograded notebook)."""
    path = course / "course" / "autograded" / student / ASSIGNMENT / f"{NB1}.ipynb"
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            match = re.search(rf"PROBE {student} (\{{.*\}})", output.get("text", ""))
            if match:
                return json.loads(match.group(1))
    raise AssertionError(f"{student}: the probe never reported (did evaluate() run?)")


@pytest.mark.parametrize("name", sorted(PROBES))
def test_each_probe_earns_exactly_what_its_honest_part_earns(graded_class, name):
    """A cheat earns what the useless answer earns handed in honestly; a prober with a right answer keeps every point."""
    want = FULL[NB1] if PROBES[name].earns == "full" else _points(graded_class, "honest_wrong_evaluate")
    assert _points(graded_class, name) == want
    assert _report(graded_class, name) is not None


def test_the_cheats_would_have_passed_checks_run_in_their_kernel(graded_class):
    """The yardstick is a real loss, and the cheats really did change the objects checks used to call."""
    assert _points(graded_class, "honest_wrong_evaluate") < FULL[NB1]
    assert set(_report(graded_class, "sealed_edits_checks_in_place")["changed"]) >= {"check", "isclose"}
    assert _report(graded_class, "sealed_rewrites_cells")["rewired"] is True


def test_no_kernel_could_read_the_answers_the_gradebook_or_private_files(graded_class):
    """Solutions, gradebook, course configuration, process 1's environment: none of it exists in the sandbox."""
    assert _report(graded_class, "sealed_reads_answers")["found"] == []


def test_no_probe_left_a_file_outside_its_own_notebook(graded_class):
    """Every write a prober made went into its kernel's own, temporary copy; nothing reached the machine."""
    homes = [Path(p) for p in ("/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~"), "/")]
    left = [p for p in graded_class.rglob(f"*{PROBE_MARKER}*")]
    left += [p for home in homes if home.is_dir() for p in home.glob(f"{PROBE_MARKER}*")]
    assert left == []
    assert not any(str(graded_class) in place for place in _report(graded_class, "sealed_writes_outside")["written"])


def test_the_gradebook_was_out_of_reach(graded_class):
    """The attempt to give everyone full marks found no gradebook to open."""
    assert _report(graded_class, "sealed_edits_gradebook")["gradebook"].startswith("refused")
    assert _points(graded_class, "blank") == 0


def test_nothing_a_probe_started_is_still_running(graded_class):
    """The sleeper and the double-forked daemon ended with their notebook."""
    running = []
    for process in psutil.process_iter(["cmdline"]):
        if any(PROBE_MARKER in part for part in process.info["cmdline"] or []):
            running.append(process.info["cmdline"])
    assert running == []
    assert _report(graded_class, "sealed_leaves_processes")["sleeper"] > 0  # it did start


def test_the_graders_secrets_never_reach_a_kernel(graded_class):
    """The grader's environment (a secret, the gradebook's address) is not in any kernel, output or page."""
    seen = _report(graded_class, "sealed_reads_environment")
    assert seen["secret"] is None and seen["gradebook"] is None and PROBE_SECRET not in seen["names"]
    for folder in ("autograded", "feedback"):
        for page in (graded_class / "course" / folder).rglob("*.*"):
            assert PROBE_MARKER + "-secret" not in page.read_text(errors="replace"), page


def test_no_kernel_reached_the_network(graded_class):
    """Not the grading machine's loopback (a port the tests listened on), not the outside world."""
    assert json.loads((graded_class / "probe_connections.json").read_text()) == []
    assert _report(graded_class, "sealed_uses_network")["reached"] == []


def test_a_kernel_sees_and_touches_only_its_own_processes(graded_class):
    """No zygote, no other student's kernel, no grader: a handful of its own processes, none it could stop."""
    seen = _report(graded_class, "sealed_touches_other_processes")
    assert len(seen["visible"]) <= 4, seen["visible"]
    assert seen["touched"] == []


def test_channel_breaks_are_listed_for_a_person_to_read(graded_class):
    """A cheat that rewires its kernel shows up in the integrity table (it changes no grade)."""
    with open(graded_class / "course" / "integrity.csv", newline="") as handle:
        text = handle.read()
    assert "sealed_rewrites_cells" in text and "sealed_frames_and_gc" in text


@pytest.fixture(scope="module")
def unsealed(tmp_path_factory) -> Path:
    """Return a scratch course where three probers were graded WITHOUT the sandbox (what they can do there)."""
    course = make_scratch_course(tmp_path_factory.mktemp("unsealed"))
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    answers = solution_answers(course)[NB1]
    for name in ("sealed_reads_answers", "sealed_reads_environment"):
        code = probe_code(name, str(course), 9, PROBE_MARKER, PROBE_SECRET)
        write_submission(course, name, NB1, {**answers, "nb01-evaluate": code})
    graded = autograde(course, "--jobs", "1", "--no-sandbox")
    assert graded.returncode == 0, (graded.stdout + graded.stderr)[-3000:]
    assert "WARNING: grading without the sandbox" in graded.stderr
    return course


def test_without_the_sandbox_the_same_probes_do_find_the_answers_and_the_secret(unsealed):
    """The probes are not toothless: unsealed, one reads the solutions (and takes full marks), one the secret."""
    found = _report(unsealed, "sealed_reads_answers")["found"]
    assert any(path.endswith("solutions/ch8/01_overfitting.ipynb") for path in found)
    assert _points(unsealed, "sealed_reads_answers") == FULL[NB1]
    assert _report(unsealed, "sealed_reads_environment")["secret"] == PROBE_MARKER + "-secret"
