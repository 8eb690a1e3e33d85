"""The lab guide quotes only what the notebooks print, and renders on a Git host and in JupyterLab."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "labguide"
PAGES = sorted(GUIDE.glob("*.md"))
SOLUTIONS = sorted((ROOT / "solutions" / "ch8").glob("*.ipynb"))
# Numbers with three or more decimals in the guide that are settings, not results.
SETTINGS = {"0.005", "0.001"}
FENCE = re.compile(r"```.*?```", re.S)


def _outputs(paths=SOLUTIONS) -> str:
    """Return everything the committed solution notebooks printed (their stream outputs)."""
    return "\n".join(o.get("text", "") for path in paths
                     for cell in nbformat.read(path, as_version=4).cells
                     for o in cell.get("outputs", []) if o.output_type == "stream")


def _full_erratum_rows() -> str:
    """Return the book's rows for the printed listing: the notebook prints them all behind its
    FULL_ERRATUM_RUN switch, which tests/test_notebooks.py runs (too slow to commit as output)."""
    import json

    lines = json.loads((ROOT / "tests" / "data" / "book_ch8_tables.json").read_text())["lines"]
    return "\n".join(line + " " for line in lines["printed_batching"])


OUTPUTS = _outputs() + "\n" + _full_erratum_rows()


def _times() -> dict[str, list[float]]:
    """Return the wall times (seconds) each solution notebook printed, by notebook name."""
    times = {}
    for path in SOLUTIONS:
        printed = _outputs([path])
        times[path.stem] = [float(t) for t in re.findall(r"wall time (\d+\.\d+) s", printed)] + [
            float(t) for t in re.findall(r"(?:at a time|printed listing|mini-batch) (\d+\.\d+)", printed)]
    return times


TIMES = _times()


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def test_the_guide_has_its_pages():
    """An index, getting started, one page per notebook, the instructors' page and the graders' rubrics."""
    assert [p.name for p in PAGES] == ["01_getting_started.md", "02_overfitting.md", "03_early_stopping.md",
                                       "04_dropout.md", "05_minibatch.md", "06_evidence.md", "07_instructors.md",
                                       "08_written_answers.md", "README.md"]
    assert sum(map(len, TIMES.values())) >= 6 and "I:349" in OUTPUTS


# Lines of printed output that hold wall-clock times: shown in the guide, but checked loosely.
TIMING_LINE = re.compile(r"^(?:seconds per epoch|wall time)\b.*$", re.M)
# A quoted duration such as "0.008 s" or "18 seconds": a time, not a result.
DURATION = re.compile(r"\d+(?:\.\d+)?\s*(?:s|seconds)\b")


def _printed(token: str) -> bool:
    """Return whether ``token`` occurs in the outputs as a whole number (0.81 does not match 0.8114)."""
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\d])", OUTPUTS) is not None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_quoted_results_are_printed_by_the_notebooks(page):
    """Accuracies, errors, iterations and percentages in the guide all occur in the notebooks' output."""
    text = DURATION.sub(" ", TIMING_LINE.sub(" ", _text(page)))
    missing = [n for n in re.findall(r"(?<![\w.])\d+\.\d{3,}(?![\w.])", text) if n not in SETTINGS and not _printed(n)]
    missing += [t for t in re.findall(r"(?:Test|Train)-(?:Err|Acc):[\d.]*\d", text) if not _printed(t)]
    missing += [t for t in re.findall(r"\bI:\d+", text) if not _printed(t)]
    for percent in re.findall(r"(\d+(?:\.\d+)?) ?%", text):
        if "." not in percent:
            continue  # whole percentages ("100 %", "80 %") are read off a figure, not quoted
        fraction = f"{float(percent) / 100:.6f}".rstrip("0")
        if not _printed(fraction) and not _printed(percent):  # printed as a fraction (0.8114) or in percent
            missing.append(f"{percent} %")
    # Results over seeds: "81.76 ± 0.79" and ranges "80.74–83.25" exactly as a notebook printed them.
    missing += [pair for pair in re.findall(r"\d+\.\d+ ± \d+\.\d+", text) if pair not in OUTPUTS]
    missing += [span for span in re.findall(r"-?\d+\.\d+–-?\d+\.\d+", text) if span not in OUTPUTS]
    assert not missing, f"{page.name} quotes numbers the notebooks do not print: {missing}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name[:2] in {"01", "02", "03", "04", "05"}
                                  or p.name == "06_evidence.md"], ids=lambda p: p.stem)
def test_quoted_times_match_the_notebooks(page):
    """Times the student pages quote ('about 18 seconds', 'about 0.11 s') are within 3x of a printed one.

    Loose on purpose: wall times change from run to run and machine to machine; a factor of 3 still
    catches a time copied from the wrong notebook or left over from an older version.
    """
    text = _text(page)
    own = re.search(r"Notebook: `notebooks/ch8/(\w+)\.ipynb`", text)
    lines = text.splitlines()
    checked = 0
    for match in re.finditer(r"about (\d+(?:\.\d+)?)(?: and (\d+(?:\.\d+)?))?\s+(?:seconds|s\b)", text):
        # The times of the notebook named on the same line (a table row), else of the page's notebook.
        line = lines[text.count("\n", 0, match.start())]
        named = [name for name in TIMES if name in line] or ([own.group(1)] if own else list(TIMES))
        printed = [t for name in named for t in TIMES[name]]
        for seconds in (float(x) for x in match.groups() if x):
            checked += 1
            assert any(seconds / 3 <= t <= seconds * 3 for t in printed), (
                f"{page.name}: 'about {seconds} s' is not within 3x of any time {named} printed: {printed}")
    if page.name.startswith(("01", "05")):
        assert checked, f"{page.name} should quote the notebooks' timings"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_log_lines_in_code_blocks_are_copied_from_the_notebooks(page):
    """Every progress line shown as expected output is a line the notebooks printed."""
    printed = OUTPUTS.splitlines()
    for block in FENCE.findall(_text(page)):
        for line in block.splitlines():
            if line.startswith(("I:", "ran ", "test accuracy", "for comparison")):
                assert line in printed, f"{page.name}: {line!r} is not in the notebooks' output"
            elif TIMING_LINE.match(line):
                # Same line with other timings: every number within 3x of the printed one.
                number = r"\d+(?:\.\d+)?"
                shape = re.sub(number, "#", line)
                twins = [p for p in printed if re.sub(number, "#", p) == shape]
                assert twins, f"{page.name}: no printed line looks like {line!r}"
                ok = any(all(float(b) / 3 <= float(a) <= float(b) * 3
                             for a, b in zip(re.findall(number, line), re.findall(number, p))) for p in twins)
                assert ok, f"{page.name}: the timings in {line!r} are not within 3x of {twins}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_images_exist_with_alt_text_and_a_caption(page):
    """Relative image links that resolve, a description in the alt text, an italic caption below."""
    lines = _text(page).splitlines()
    for i, line in enumerate(lines):
        for alt, target in re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", line):
            assert len(alt.split()) >= 5, f"{page.name}: alt text of {target} should describe the figure"
            assert not target.startswith(("/", "http")) and (page.parent / target).is_file(), target
            caption = next(l for l in lines[i + 1:] if l.strip())
            assert caption.startswith("*"), f"{page.name}: {target} needs an italic caption right below it"


def test_every_figure_is_shown_and_made_by_a_notebook():
    """Each PNG in labguide/figures appears in the guide and is written by a solution notebook."""
    shown = " ".join(_text(p) for p in PAGES)
    sources = " ".join(c.source for path in SOLUTIONS for c in nbformat.read(path, as_version=4).cells)
    figures = sorted((GUIDE / "figures").glob("*.png"))
    assert len(figures) >= 6
    for png in figures:
        assert f"figures/{png.name}" in shown, f"{png.name} is not shown in the guide"
        assert f'save_figure(fig, "{png.stem}")' in sources, f"no notebook makes {png.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_links_resolve_and_no_raw_html(page):
    """Relative links point at files that exist; no HTML tags (they render differently on Git hosts)."""
    text = _text(page)
    prose = FENCE.sub("", text)
    for target in re.findall(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]*)", prose):
        path = target.split("#")[0]
        if path and not re.match(r"[a-z]+:", path):
            assert (page.parent / path).exists(), f"{page.name} links to missing {target}"
    html = re.search(r"<!--|</?[a-zA-Z][^>]*>", re.sub(r"`[^`]*`", "", prose))
    assert not html, f"{page.name} contains raw HTML: {html.group(0) if html else ''}"


def _section(page: Path, heading: str) -> str:
    """Return the text of a page's section, from its ``## heading`` line to the next ``## ``."""
    text = _text(page)
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_guide_answers_both_meanings_of_the_2():
    """'What does the 2 do?' explains the 2 of randint(2, ...) (an excluded upper bound: 0 or 1) and the * 2 rescaling,
    both as the dropout notebook writes them."""
    section = " ".join(_section(GUIDE / "04_dropout.md", "What does the 2 do?").split())
    dropout = nbformat.read(ROOT / "solutions" / "ch8" / "03_dropout.ipynb", as_version=4)
    notebook = " ".join(cell.source for cell in dropout.cells)
    for code in ("np.random.randint(2, size=layer_1.shape)", "layer_1 * mask * 2"):
        assert code in notebook and f"`{code}`" in section, code
    # randint's 2: the upper bound, excluded, so only 0 and 1 come out.
    assert re.search(r"upper bound[^|]*excluded", section) and "0 and 1" in section and "never 2" in section
    # the * 2: the survivors are doubled so that the expected signal is the same as without dropout.
    assert "E[h * mask * 2] = h" in section and "1/*p*" in section
    # Side by side: one table row per meaning.
    lines = _section(GUIDE / "04_dropout.md", "What does the 2 do?").splitlines()
    rows = [line for line in lines if line.startswith("| `")]
    assert len(rows) == 2 and "randint(2" in rows[0] and "* 2" in rows[1]


def test_screenshots_are_shown_and_made_by_a_browser_test():
    """Each screenshot in labguide/figures/screenshots appears in the guide and is written by a browser test."""
    shown = " ".join(_text(p) for p in PAGES)
    tests = " ".join(path.read_text() for path in (ROOT / "tests").glob("test_browser*.py"))
    screenshots = sorted((GUIDE / "figures" / "screenshots").glob("*.png"))
    assert screenshots, "the instructors' page shows the class report: labguide/figures/screenshots/class_report.png"
    for png in screenshots:
        assert f"figures/screenshots/{png.name}" in shown, f"{png.name} is not shown in the guide"
        assert f'"screenshots" / "{png.name}"' in tests, f"no browser test makes {png.name}"


def test_the_guide_says_how_long_each_notebook_takes_a_student():
    """Getting started estimates each notebook's time for a student, in minutes, beside the computer's."""
    section = _section(GUIDE / "01_getting_started.md", "How long things take")
    rows = {re.match(r"\| `(\w+)`", row).group(1): row for row in section.splitlines() if row.startswith("| `0")}
    assert sorted(rows) == [path.stem for path in SOLUTIONS]
    for name, row in rows.items():
        estimate = row.split("|")[2]
        low, high = map(int, re.search(r"(\d+)–(\d+) minutes", estimate).groups())
        assert 10 <= low < high <= 60, f"{name}: {estimate}"
        intro = " ".join(nbformat.read(ROOT / "solutions" / "ch8" / f"{name}.ipynb", as_version=4).cells[0].source.split())
        assert f"{low}–{high} minutes" in intro, f"{name}'s introduction should state the guide's estimate"


BOX = "Python and NumPy you will meet"


def test_python_and_numpy_you_will_meet_explains_what_the_notebooks_use():
    """The box on the first page names each piece the tasks use, and the tasks and guide pages point to it."""
    box = _section(GUIDE / "01_getting_started.md", BOX)
    for piece in ("`a @ b`", "`axis=1`", "`*` unpacks", "`+=` versus `=`", "`.copy()`", "Functions as arguments",
                  "`if mask is not None:`", "Slices stop at the end", "Whole-number division"):
        assert piece in box, piece
    tasks = {path.stem: " ".join(" ".join(c.source.split()) for c in nbformat.read(path, as_version=4).cells
                                 if c.cell_type == "markdown" and "task" in c.get("id", ""))
             for path in SOLUTIONS if not path.stem.startswith("05")}
    assert all(f"*{BOX}*" in text for text in tasks.values()), [name for name, text in tasks.items() if BOX not in text]
    pages = ("02_overfitting.md", "03_early_stopping.md", "04_dropout.md", "05_minibatch.md")
    assert all(f"[{BOX}](01_getting_started.md#python-and-numpy-you-will-meet)" in " ".join(_text(GUIDE / page).split())
               for page in pages)
