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


def _outputs() -> str:
    """Return everything the committed solution notebooks printed."""
    return "\n".join(o.get("text", "") for path in SOLUTIONS
                     for cell in nbformat.read(path, as_version=4).cells
                     for o in cell.get("outputs", []) if o.output_type == "stream")


def _full_erratum_rows() -> str:
    """Return the book's rows for the printed listing: the notebook prints them all behind its
    FULL_ERRATUM_RUN switch, which tests/test_notebooks.py runs (too slow to commit as output)."""
    import json

    lines = json.loads((ROOT / "tests" / "data" / "book_ch8_tables.json").read_text())["lines"]
    return "\n".join(line + " " for line in lines["printed_batching"])


OUTPUTS = _outputs() + "\n" + _full_erratum_rows()
TIMES = [float(t) for t in re.findall(r"wall time (\d+\.\d+) s", OUTPUTS)] + [
    float(t) for t in re.findall(r"(?:at a time|printed listing|mini-batch) (\d+\.\d+)", OUTPUTS)]


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def test_the_guide_has_its_pages():
    """An index, getting started, one page per notebook and the instructors' page."""
    assert [p.name for p in PAGES] == ["01_getting_started.md", "02_overfitting.md", "03_early_stopping.md",
                                       "04_dropout.md", "05_minibatch.md", "06_instructors.md", "README.md"]
    assert len(TIMES) >= 6 and "I:349" in OUTPUTS


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_quoted_results_are_printed_by_the_notebooks(page):
    """Accuracies, errors, iterations and percentages in the guide all occur in the notebooks' output."""
    text = _text(page)
    missing = [n for n in re.findall(r"(?<![\w.])\d+\.\d{3,}(?![\w.])", text) if n not in SETTINGS and n not in OUTPUTS]
    missing += [t for t in re.findall(r"(?:Test|Train)-(?:Err|Acc):[\d.]*\d", text) if t not in OUTPUTS]
    missing += [t for t in re.findall(r"\bI:\d+", text) if f"{t} " not in OUTPUTS]
    for percent in re.findall(r"(\d+\.\d+) ?%", text):
        fraction = f"{float(percent) / 100:.6f}".rstrip("0")
        if fraction not in OUTPUTS:
            missing.append(f"{percent} %")
    assert not missing, f"{page.name} quotes numbers the notebooks do not print: {missing}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.name[:2] in {"01", "02", "03", "04", "05"}], ids=lambda p: p.stem)
def test_quoted_times_match_the_notebooks(page):
    """Times the student pages quote ('about 18 seconds', 'about 0.11 s') are within 2x of a printed one."""
    quoted = []
    for match in re.finditer(r"about (\d+(?:\.\d+)?)(?: and (\d+(?:\.\d+)?))? (?:seconds|s\b)", _text(page)):
        quoted += [float(x) for x in match.groups() if x]
    for seconds in quoted:
        assert any(seconds / 2 <= t <= seconds * 2 for t in TIMES), f"{page.name}: 'about {seconds}' matches no printed time"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_log_lines_in_code_blocks_are_copied_from_the_notebooks(page):
    """Every progress line shown as expected output is a line the notebooks printed."""
    for block in FENCE.findall(_text(page)):
        for line in block.splitlines():
            if line.startswith(("I:", "ran ", "test accuracy", "for comparison")):
                assert line in OUTPUTS.splitlines(), f"{page.name}: {line!r} is not in the notebooks' output"


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
    for target in re.findall(r"(?<!!)\[[^\]]*\]\(([^)#]+)\)", prose):
        if not target.startswith("http"):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
    assert not re.search(r"</?[a-zA-Z][^>]*>", re.sub(r"`[^`]*`", "", prose)), f"{page.name} contains raw HTML"
