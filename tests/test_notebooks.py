"""The solution notebooks reproduce the book; the practice copies are generated and give nothing away."""
from __future__ import annotations

import ast
import builtins
import json
import re
from pathlib import Path

import nbformat
import pytest

from helpers.grading import HIDDEN_NOTE
from instructor.checker import SETUP_SUFFIXES, notebook_namespace
from instructor.course import ASSIGNMENT, make_scratch_course, marked_lines, nbgrader, solution_answers
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
        # Every check has hidden tests: a second input after its visible lines, or the whole check.
        assert "### BEGIN HIDDEN TESTS" in cell.source, cell.id
        if _hidden_only(cell.source):  # a student's copy holds its docstring only: it says what it is
            assert cell.source.endswith("### END HIDDEN TESTS\nhidden_check_note()"), cell.id
    assert [c for c in graded if not _hidden_only(c.source)], "some checks are visible to students"


def _hidden_only(source: str) -> bool:
    """Tell whether a check cell has nothing but its docstring and imports outside its hidden tests."""
    visible = ast.parse(source.split("### BEGIN HIDDEN TESTS")[0]).body
    return all(isinstance(node, (ast.Import, ast.ImportFrom)) or
               isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in visible)


def _setup_sources(path: Path) -> list[str]:
    """Return the sources of the cells the grader builds a check's namespace from (*-setup, *-given)."""
    return [c.source for c in nbformat.read(path, as_version=4).cells
            if c.get("id", "").endswith(SETUP_SUFFIXES) and c.cell_type == "code"]


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_setup_is_one_call_and_long_runs_shorten_under_nbgrader(path):
    """The setup cell hides its plumbing behind start_notebook(), whose QUICK cuts the long runs short."""
    setup = _setup_sources(path)[0]
    assert setup.startswith("# Setup: run this cell first.") and "data, QUICK = start_notebook(" in setup
    for plumbing in ("tune_malloc", "NBGRADER_EXECUTION", "os.environ", "import os"):
        assert plumbing not in setup, plumbing
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    assert "if QUICK" in text or "if QUICK else" in text


def _loaded_names(source: str) -> set[str]:
    """Return the names ``source`` reads without defining them itself (assignments, defs, imports, arguments)."""
    tree = ast.parse(source)
    defined, loaded = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
            defined.update(a.arg for a in node.args.args + node.args.kwonlyargs)
            defined.add(getattr(node, "name", ""))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return loaded - defined


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_checks_use_only_what_the_setup_cells_define(path):
    """Run as the grader runs them, the setup and given cells define every notebook name a check reads
    (the data arrays, relu, evaluate where given), and the data is the grader's one read-only copy."""
    namespace = notebook_namespace(_setup_sources(path))
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            missing = _loaded_names(cell.source) - set(namespace)
            assert not missing, f"{cell.id} reads {sorted(missing)}, which its notebook's setup does not define"
    for name in ("images", "labels", "test_images", "test_labels"):
        assert not namespace[name].flags.writeable, name


def _run_checks(path: Path, answers: dict[str, str]) -> dict[str, str]:
    """Run a student copy's setup, answer and check cells in a kernel; return {check's grade_id: what it printed}."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    keep = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (cell.id.endswith(SETUP_SUFFIXES) or meta.get("grade") or meta.get("solution")):
            cell.source = answers.get(meta.get("grade_id"), cell.source)
            keep.append(cell)
    nb.cells = keep
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    return {cell.metadata.nbgrader["grade_id"]: "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            for cell in nb.cells if cell.metadata.nbgrader.get("grade")}


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_check_says_what_it_is_in_a_students_run(path):
    """In the student copy, answered as in the solutions: each visible check prints its OK line, each
    hidden check its one line (its tests are not in the copy), and nothing else."""
    answers = solution_answers(ROOT)[path.stem]
    printed = _run_checks(RELEASED / path.name, answers)
    source = {c.id: c.source for c in nbformat.read(path, as_version=4).cells}
    hidden_only = {cid for cid in printed if _hidden_only(source[cid])}
    assert hidden_only != set(printed)
    for cid, text in printed.items():
        if cid in hidden_only:
            assert text == HIDDEN_NOTE + "\n", f"{cid} printed {text!r}"
        else:
            assert re.fullmatch(r"[^\n]*: OK\b[^\n]*\n", text), f"{cid} printed {text!r}"


# A pass over the training images, as a unit ("350 passes", "per pass"), or the book's word for it.
PASS_AS_UNIT = re.compile(r"\b(?:\d+|one|few|every|each|per|first|last|best|stopping) pass(?:es)?\b"
                          r"|\bpass(?:es)? over the\b|\ba pass at a time\b|\biterations?\b", re.I)


def _sentences(text: str) -> list[str]:
    """Return the sentences of a Markdown text, each on one line."""
    return re.split(r"(?<=[.!?])\s+|\n\s*\n", " ".join(text.split()))


def test_one_word_for_a_pass_over_the_training_images():
    """The notebooks' text and the guide say "epoch"; "pass" or the book's "iteration" only where they define it."""
    cells = [(p.name, c) for p in SOLUTIONS for c in nbformat.read(p, as_version=4).cells]
    texts = [(name, c.source) for name, c in cells if c.cell_type == "markdown"]
    texts += [(name, label) for name, c in cells if c.cell_type == "code"
              for label in re.findall(r"set_[xy]label\((.*)\)", c.source)]  # the plots' axes
    texts += [(p.name, p.read_text(encoding="utf-8")) for p in (ROOT / "labguide").glob("*.md")]
    odd = [(name, sentence) for name, text in texts for sentence in _sentences(text)
           if PASS_AS_UNIT.search(sentence) and "epoch" not in sentence.lower()]
    assert not odd, odd[:5]
    assert len(texts) > 50
    assert any("book calls it an *iteration*" in " ".join(text.split()) for _, text in texts)


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
