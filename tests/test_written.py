"""The written questions: where they sit in the source notebooks, what students read, what graders go by.

Grading them by hand is tested end to end elsewhere: through nbgrader's API in the session's graded
class (tests/test_nbgrader_pipeline.py, test_report.py, test_lms.py) and in a real formgrader in a
browser (tests/test_browser.py). The student copies hold no rubric: tests/test_notebooks.py.
"""
from __future__ import annotations

import re
import subprocess
import sys

import nbformat
import pytest

from instructor.course import ASSIGNMENT, ROOT, check_points, total_points, written_points
from instructor.written import MODEL, PAGE, is_written, model_answer, questions, rubric_page

SOURCES = sorted((ROOT / "solutions" / ASSIGNMENT).glob("*.ipynb"))
QUESTIONS = questions(ROOT)


def test_notebooks_01_to_04_ask_two_written_questions_of_2_points_each():
    """Two per notebook in 01-04 (none in 05, which goes further), 2 points each; the autograded 37 unchanged."""
    per_notebook = {path.stem: [q.points for q in QUESTIONS if q.notebook == path.stem] for path in SOURCES}
    assert per_notebook == {"01_overfitting": [2, 2], "02_early_stopping": [2, 2], "03_dropout": [2, 2],
                            "04_minibatch": [2, 2], "05_evidence": []}
    assert sum(check_points(ROOT).values()) == 37 and sum(written_points(ROOT).values()) == 16
    assert total_points(ROOT) == 53


@pytest.mark.parametrize("path", SOURCES[:4], ids=lambda p: p.stem)
def test_each_question_is_a_locked_cell_right_above_its_answer_cell(path):
    """The question: locked Markdown, not graded, its points in its heading. The answer: Markdown graded by hand,
    unlocked, named after the question; ids carry the notebook's prefix."""
    cells = nbformat.read(path, as_version=4).cells
    prefix = f"nb{path.stem[:2]}-written-"
    for before, cell in zip(cells, cells[1:]):
        if not is_written(cell):
            continue
        question, answer = before.metadata.nbgrader, cell.metadata.nbgrader
        assert before.cell_type == "markdown" and question["locked"] and not question["grade"]
        assert not question["solution"] and not answer["locked"] and answer["points"] == 2
        assert answer["grade_id"] == f"{question['grade_id']}-answer" and question["grade_id"].startswith(prefix)
        assert before.id == question["grade_id"] and cell.id == answer["grade_id"]
        assert f"({answer['points']:g} points, graded by hand)" in before.source.splitlines()[0]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.name)
def test_students_read_how_long_and_what_to_mention(question):
    """Every question says how many sentences and what a full answer mentions, and how to write in the cell."""
    assert re.search(r"\*\*Length:\*\* \d+ to \d+ sentences\.", question.prompt)
    assert "**Mention:**" in question.prompt
    assert "double-click it, replace the placeholder line" in question.prompt


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.name)
def test_graders_get_a_model_answer_and_a_rubric_with_wrong_answers_to_answer(question):
    """Full, partial and no credit spelled out; at least two common wrong answers, each with a reply to write back."""
    assert len(question.model.split()) >= 40
    for credit in ("**2 points:**", "**1 point:**", "**0 points:**"):
        assert credit in question.rubric, (question.name, credit)
    wrong = question.rubric.split("**Common wrong answers, and what to write back.**")[1]
    assert wrong.count("Write back:") >= 2 and wrong.count("\n- *") == wrong.count("Write back:")


def test_the_questions_the_issue_asked_for_are_there():
    """The two 2s of dropout (randint and * 2), the larger alpha and why the batch size matters, stopping
    chosen on validation and not on test data."""
    prompts = {q.name: " ".join(f"{q.title} {q.prompt}".split()) for q in QUESTIONS}
    assert "np.random.randint(2, size=layer_1.shape)`" in prompts["nb03-written-two-answer"]
    assert "`* 2`" in prompts["nb03-written-two-answer"]
    alpha = prompts["nb04-written-alpha-answer"]
    assert "`alpha = 0.1`" in alpha and "`batch_size`" in alpha
    assert "validation" in prompts["nb02-written-validation-answer"] and "*test* accuracy" in prompts[
        "nb02-written-validation-answer"]


@pytest.mark.parametrize("path", SOURCES[:4], ids=lambda p: p.stem)
def test_a_question_comes_where_its_idea_is_seen_not_only_at_the_end(path):
    """The first question of each notebook comes before its last code cell: right after the part it asks about."""
    cells = nbformat.read(path, as_version=4).cells
    first = next(i for i, cell in enumerate(cells) if is_written(cell))
    last_code = max(i for i, cell in enumerate(cells) if cell.cell_type == "code")
    assert first < last_code


def test_a_model_answer_is_what_a_complete_submission_hands_in():
    """The model answer is the text between its label and the rubric: never the rubric."""
    source = f"Note for graders.\n\n{MODEL} It is **this**.\n\n**Rubric (2 points).**\n\n- **2 points:** ..."
    assert model_answer(source) == "It is **this**."
    assert model_answer("no label here") == ""


def test_the_graders_page_is_made_from_the_source_notebooks():
    """labguide/08_written_answers.md is exactly what the answer cells give (python3 tasks.py release writes it),
    and the instructors' page links to it."""
    page = (ROOT / PAGE).read_text(encoding="utf-8")
    assert page == rubric_page(QUESTIONS), "labguide/08_written_answers.md is out of date: run python3 tasks.py release"
    for question in QUESTIONS:
        assert f"`{question.name}`" in page and question.rubric in page
    assert "(08_written_answers.md)" in (ROOT / "labguide" / "07_instructors.md").read_text(encoding="utf-8")
    check = subprocess.run([sys.executable, "-m", "instructor.written", "--check"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0 and "is current" in check.stdout, check.stdout + check.stderr


def test_a_question_without_its_heading_is_refused(tmp_path):
    """An answer cell whose question cell is missing or unheaded stops the page with a sentence that says why."""
    (tmp_path / "solutions" / ASSIGNMENT).mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_markdown_cell(f"{MODEL} x")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "nb09-written-x-answer", "points": 2}
    nb.cells = [nbformat.v4.new_markdown_cell("Some text"), answer]
    nbformat.write(nb, tmp_path / "solutions" / ASSIGNMENT / "09_x.ipynb")
    with pytest.raises(ValueError, match="needs its question right above it"):
        questions(tmp_path)
