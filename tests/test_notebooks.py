"""The solution notebooks reproduce the book; the practice copies are generated and give nothing away."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from instructor.course import ASSIGNMENT, make_scratch_course, marked_lines, nbgrader
from instructor.written import is_written

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"))
RELEASED = ROOT / "notebooks" / ASSIGNMENT
BOOK_TABLES = ROOT / "tests" / "data" / "book_ch8_tables.json"  # the book's printed lines
SHARED_LOGS = ROOT.parent / "shared" / "book" / "ch8_printed_logs.json"  # where they were taken from
LINE = re.compile(r"^I:\d+ .*$", re.M)


def _stream(path: Path, cell_id: str) -> str:
    """Return the printed output of one cell of a committed notebook."""
    cell = next(c for c in nbformat.read(path, as_version=4).cells if c.get("id") == cell_id)
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def _book_lines(experiment: str) -> list[str]:
    """Return the book's printed progress lines for one experiment, in its column order."""
    return json.loads(BOOK_TABLES.read_text())["lines"][experiment]


@pytest.mark.skipif(not SHARED_LOGS.exists(), reason="the shared course folder is only beside developer checkouts and CI")
def test_the_committed_book_tables_match_the_shared_logs():
    """tests/data/book_ch8_tables.json says exactly what ../shared/book/ch8_printed_logs.json says."""
    shared = json.loads(SHARED_LOGS.read_text())
    for experiment, lines in json.loads(BOOK_TABLES.read_text())["lines"].items():
        rows = shared[experiment]["rows"]
        assert lines == [" ".join(f"{key}:{value}" for key, value in row.items()) for row in rows]
    assert sum(len(v) for v in json.loads(BOOK_TABLES.read_text())["lines"].values()) == 96


def test_there_are_five_notebooks_named_in_order():
    """NN_topic.ipynb, the same names in solutions/ and notebooks/."""
    names = [p.name for p in SOLUTIONS]
    assert names == ["01_overfitting.ipynb", "02_early_stopping.ipynb", "03_dropout.ipynb", "04_minibatch.ipynb",
                     "05_evidence.ipynb"]
    assert sorted(p.name for p in RELEASED.glob("*.ipynb")) == names


@pytest.mark.parametrize("notebook, cell_id, experiment, rows", [
    ("01_overfitting", "nb01-train", "baseline", None),
    ("03_dropout", "nb03-train", "dropout", None),
    ("04_minibatch", "nb04-erratum", "printed_batching", 3),
])
def test_solution_outputs_print_the_books_tables_digit_for_digit(notebook, cell_id, experiment, rows):
    """Every progress line the book prints for this experiment, as committed in the solution notebook."""
    printed = LINE.findall(_stream(ROOT / "solutions" / ASSIGNMENT / f"{notebook}.ipynb", cell_id))
    book = _book_lines(experiment)[:rows]
    assert printed == book


def _cells(path: Path) -> list[tuple]:
    """Return what matters of each cell: type, source and nbgrader metadata."""
    return [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nbformat.read(path, as_version=4).cells]


def test_practice_copies_are_exactly_what_nbgrader_generates(tmp_path):
    """Regenerate notebooks/ from solutions/ and compare: nobody edits the student copies by hand."""
    course = make_scratch_course(tmp_path)
    result = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert result.returncode == 0, result.stderr[-2000:]
    for path in SOLUTIONS:
        fresh = course / "notebooks" / ASSIGNMENT / path.name
        assert _cells(fresh) == _cells(RELEASED / path.name), (
            f"notebooks/{ASSIGNMENT}/{path.name} differs from what nbgrader generates: "
            "run `python3 tasks.py release` and commit the result")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_practice_copies_hold_no_solution_and_no_hidden_test(path):
    """Answer cells keep only signature, docstring and stub; no hidden check or marker; no outputs."""
    source_cells = {c.metadata.nbgrader["grade_id"]: c for c in nbformat.read(path, as_version=4).cells}
    released = nbformat.read(RELEASED / path.name, as_version=4)
    text = "\n".join(cell.source for cell in released.cells)
    hidden = [line for c in source_cells.values()
              for line in marked_lines(c.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS") if len(line) > 12]
    assert hidden, "the source notebook should have hidden checks"
    assert not [line for line in hidden if line in text]
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    answers = 0
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader", {})
        if is_written(cell):
            continue  # test_practice_copies_hold_no_model_answer_and_no_rubric
        if meta.get("solution"):
            answers += 1
            answer = marked_lines(source_cells[meta["grade_id"]].source, "### BEGIN SOLUTION", "### END SOLUTION")
            stub = [line.strip() for line in cell.source.splitlines()]
            assert answer and not [line for line in answer if line and line in stub]
            assert cell.source.rstrip().endswith('raise NotImplementedError("not written yet: replace this line with your code")')
    assert answers >= 1
    assert all(not cell.get("outputs") for cell in released.cells if cell.cell_type == "code")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_practice_copies_hold_no_model_answer_and_no_rubric(path):
    """A written answer cell of the student copy is the placeholder line alone: no line of its model answer or
    rubric is anywhere in the copy, nor the words graders go by."""
    from traitlets.config.loader import PyFileConfigLoader

    stub = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config().ClearSolutions.text_stub
    source = {c.metadata.nbgrader["grade_id"]: c for c in nbformat.read(path, as_version=4).cells if is_written(c)}
    released = nbformat.read(RELEASED / path.name, as_version=4)
    copies = {c.metadata.nbgrader["grade_id"]: c for c in released.cells if is_written(c)}
    assert set(copies) == set(source)
    assert all(cell.source == stub for cell in copies.values())
    text = "\n".join(cell.source for cell in released.cells)
    leaked = [line.strip() for cell in source.values() for line in cell.source.splitlines()
              if len(line.strip()) > 12 and line.strip() in text]
    assert not leaked, f"notebooks/{ASSIGNMENT}/{path.name} shows what only graders may read: {leaked[:3]}"
    assert not any(words in text for words in ("Model answer", "Rubric", "Write back", "Instructors only"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_graded_cells_explain_themselves_and_carry_points(path):
    """Each test cell starts with a docstring saying what it checks; kernel is python3."""
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and not is_written(c)]
    assert len(graded) >= 4
    for cell in graded:
        assert cell.source.startswith('"""Check'), cell.source[:60]
        assert cell.metadata.nbgrader["points"] > 0 and cell.metadata.nbgrader["locked"]
    # Every check has a hidden part (a second input); a hidden check shows students nothing but its docstring.
    hidden = [c for c in graded if "check(" not in c.source.split("### BEGIN HIDDEN TESTS")[0]]
    assert hidden and len(hidden) < len(graded), "some checks visible to students, some hidden"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_long_runs_shorten_under_nbgrader(path):
    """Each notebook reads NBGRADER_EXECUTION so that autograding skips the long demonstrations."""
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert 'QUICK = "NBGRADER_EXECUTION" in os.environ' in text
    assert "if QUICK" in text or "if QUICK else" in text


def test_the_full_printed_listing_prints_all_of_the_books_rows():
    """Notebook 04 with FULL_ERRATUM_RUN = True prints the book's whole batching table (about 2 minutes)."""
    from nbclient import NotebookClient

    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / "04_minibatch.ipynb", as_version=4)
    keep = {"nb04-setup", "nb04-given", "nb04-erratum"}
    source.cells = [c for c in source.cells if c.get("id") in keep]
    erratum = source.cells[-1]
    assert "FULL_ERRATUM_RUN = False" in erratum.source
    erratum.source = erratum.source.replace("FULL_ERRATUM_RUN = False", "FULL_ERRATUM_RUN = True", 1)
    NotebookClient(source, timeout=1200, kernel_name="python3").execute()
    printed = LINE.findall("".join(o.get("text", "") for o in erratum.outputs if o.output_type == "stream"))
    assert printed == _book_lines("printed_batching")
