"""The lab in a real browser, as a student and an instructor see it: Playwright drives Debian's chromium.

The lab starts as the README says (``python3 tasks.py lab``), with ``--no-browser``, a free loopback
port and a token. JupyterLab's user settings, workspaces and runtime files go to a scratch folder,
so that only the settings shipped with the lab (lab_settings/) count, and nothing in the user's
home folder changes. Each test is one thing a person does; every step leaves a screenshot in
test-results/browser/ (git-ignored), passed or failed, and a failure names it and shows the end of
the server's log.

Nothing in the checkout is edited. Running a notebook marks it changed and JupyterLab saves it on
its own after two minutes; the Validate button saves it at once. So every notebook a test runs,
pastes into or validates is a copy in test-results/browser/work/, removed at the end, and the last
test checks that the lab's tracked files are byte for byte what they were.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from conftest import autograde, unavailable
from helpers.grading import HIDDEN_NOTE
from instructor.classhub import free_port
from instructor.course import (ASSIGNMENT, cell_scores, make_scratch_course, nbgrader, solution_answers,
                               write_submission)
from instructor.report import write_report
from instructor.settings import course_settings
from instructor.written import Answer, answers, grade_in_formgrader
from mutants import MUTANTS, NB1, NB2

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # the browser fixture says what to install
    expect = sync_playwright = None

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-results" / "browser"  # screenshots and the server log, kept after the run
WORK = RESULTS / "work"  # the notebooks the tests change, removed at the end
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# The instructors' page of the guide shows the class report: LABGUIDE_SCREENSHOTS=1 makes the report
# test write its screenshot there too (never by default: a test run must not change the checkout).
GUIDE_SCREENSHOT = ROOT / "labguide" / "figures" / "screenshots" / "class_report.png"
# Headless as root (containers, CI) needs --no-sandbox; the rest keeps Chromium off the network,
# which it would otherwise try for updates, sync and field trials (there is none in CI).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-default-apps", "--disable-extensions"]
# Every wait is bounded. Generous, because CI shares 2 cores with the rest of the suite.
START_TIMEOUT = 180  # s: tasks.py checks the install, then JupyterLab starts
STOP_TIMEOUT = 30  # s: the server shuts its kernels down
UI_TIMEOUT = 30_000  # ms: a page element appears
KERNEL_TIMEOUT = 120_000  # ms: a kernel starts, or a notebook runs up to its first check (MNIST loads)
VALIDATE_TIMEOUT = 300_000  # ms: nbgrader runs a whole notebook, as for grading
NO_POPUP_WAIT = 5  # s: JupyterLab asks about news right when the notebook is ready; wait past that




def _tail(path: Path, chars: int = 4000) -> str:
    """Return the end of a log file (or a note that there is none)."""
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"({path} was not written)"


def _slug(text: str) -> str:
    """Return ``text`` as a file name: lower case, runs of other characters as one _."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@dataclass
class Lab:
    """A running `python3 tasks.py lab` and the one browser tab a person uses on it."""

    url: str
    token: str
    log: Path
    process: subprocess.Popen
    page: object = None

    def api(self, path: str, method: str = "GET") -> dict:
        """Call the server's REST API with the token; return the decoded JSON answer."""
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else {}

    def goto(self, path: str) -> None:
        """Open ``path`` of the lab in the tab; ``reset`` starts from an empty workspace (no other tabs)."""
        joiner = "&" if "?" in path else "?"
        self.page.goto(f"{self.url}{path}{joiner}token={self.token}")

    def step(self, name: str):
        """One step a person takes in the lab (see step())."""
        return step(self.page, name, self.log)


_SHOTS: list[Path] = []  # screenshots taken so far: numbered in the order the steps ran


@contextmanager
def step(page, name: str, log: Path | None = None) -> Iterator[None]:
    """Run one step a person takes; screenshot it either way, and on failure say where to look."""
    _SHOTS.append(RESULTS / f"{len(_SHOTS) + 1:02d}_{_slug(name)}.png")
    shot = _SHOTS[-1]
    try:
        yield
    except Exception as error:
        try:
            page.screenshot(path=str(shot), timeout=10_000)
        except Exception as shot_error:  # the page may be gone; the log still tells
            shot = f"(no screenshot: {shot_error})"
        server = f"\nserver log {log}, last lines:\n{_tail(log)}" if log else ""
        raise AssertionError(f"step '{name}' failed: {error}\n\nscreenshot: {shot}{server}") from error
    page.screenshot(path=str(shot), timeout=10_000)


def _start_lab(scratch: Path) -> Lab:
    """Start `python3 tasks.py lab` on a free loopback port with a token; return once it answers."""
    return _start_server([sys.executable, "tasks.py", "lab"], ROOT, scratch, RESULTS / "server.log",
                         "`python3 tasks.py lab`")


def _start_server(command: list[str], folder: Path, scratch: Path, log: Path, name: str) -> Lab:
    """Start a Jupyter server ``command`` in ``folder`` on a free loopback port with a token; return once it answers."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update(JUPYTERLAB_SETTINGS_DIR=str(scratch / "user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(scratch / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(scratch / "runtime"))
    with open(log, "w") as out:
        # A session of its own: tasks.py runs JupyterLab as a child, and both must be stopped.
        process = subprocess.Popen(
            [*command, "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"],
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, log, process)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} ended with code {process.returncode}; its log:\n{_tail(log)}")
            try:
                lab.api("/api/status")
                return lab
            except OSError:
                time.sleep(0.5)
    except BaseException:  # an interrupted run (Ctrl-C, SIGTERM) must not leave the lab running either
        _stop_lab(lab)
        raise
    _stop_lab(lab)
    raise RuntimeError(f"{name} did not answer on {lab.url} within {START_TIMEOUT} s; its log:\n{_tail(log)}")


def _stop_lab(lab: Lab) -> None:
    """Shut the server down (its kernels with it); kill its process group if it does not go."""
    try:
        lab.api("/api/shutdown", method="POST")
        lab.process.wait(timeout=STOP_TIMEOUT)
        return
    except (OSError, subprocess.TimeoutExpired):
        pass
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(lab.process.pid, sig)
            lab.process.wait(timeout=wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def _checkout_fingerprint() -> dict[str, str]:
    """Return {path: sha256} of the files the lab shows that git tracks (notebooks, guide, solutions)."""
    listed = subprocess.run(["git", "ls-files", "notebooks", "labguide", "solutions", "lab_settings"],
                            cwd=ROOT, capture_output=True, text=True)
    paths = listed.stdout.split() if listed.returncode == 0 else [  # not a git checkout: every file there
        str(p.relative_to(ROOT)) for folder in ("notebooks", "labguide", "solutions", "lab_settings")
        for p in (ROOT / folder).rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts]
    return {path: hashlib.sha256((ROOT / path).read_bytes()).hexdigest() for path in paths}


def _practice_copy(notebook: str, name: str, answers: dict[str, str] | None = None) -> str:
    """Write a copy of a practice notebook into WORK with ``answers`` pasted in; return its path in the lab."""
    nb = nbformat.read(ROOT / "notebooks" / ASSIGNMENT / f"{notebook}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers and grade_id in answers:
            cell.source = answers[grade_id]
    nbformat.write(nb, WORK / f"{name}.ipynb")
    return (WORK / f"{name}.ipynb").relative_to(ROOT).as_posix()


def _checkpoint_folders() -> set[Path]:
    """Return the .ipynb_checkpoints folders in the checkout (JupyterLab makes one beside each file it opens)."""
    return {path for path in ROOT.rglob(".ipynb_checkpoints") if ".venv" not in path.parts}


@pytest.fixture(scope="module")
def checkout_before() -> Iterator[dict[str, str]]:
    """The checkout's tracked lab files before any browser test ran; afterwards, remove the checkpoints it left."""
    existing = _checkpoint_folders()
    yield _checkout_fingerprint()
    for folder in _checkpoint_folders() - existing:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(checkout_before):
    """A headless Debian chromium driven by Playwright (no browser download), closed at the end."""
    if sync_playwright is None:
        unavailable("Playwright is missing: python3 tasks.py setup (it is in requirements.txt), "
                     "or .venv/bin/python -m pip install playwright")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium is missing ({CHROMIUM}): on Debian or Ubuntu `sudo apt-get install chromium`; "
                     "elsewhere set CHROMIUM to the path of a Chromium or Chrome binary")
    expect.set_options(timeout=UI_TIMEOUT)
    RESULTS.mkdir(parents=True, exist_ok=True)
    for old in RESULTS.glob("*.png"):
        old.unlink()  # screenshots of an earlier run would mislead
    with sync_playwright() as playwright:
        # launch() gives Chromium a fresh profile in a temporary folder of its own, removed on close.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory) -> Iterator[Lab]:
    """The lab started as the README says, one browser tab on it, and scratch copies of the notebooks."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    try:
        running = _start_lab(tmp_path_factory.mktemp("jupyter"))
    except RuntimeError as error:
        shutil.rmtree(WORK, ignore_errors=True)
        pytest.fail(str(error), pytrace=False)
    context = None
    try:  # from here on, whatever happens (an interrupted run too), the lab is stopped
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        running.page = context.new_page()
        running.page.set_default_timeout(UI_TIMEOUT)
        yield running
    finally:
        if context is not None:
            context.close()
        _stop_lab(running)
        shutil.rmtree(WORK, ignore_errors=True)


def _kernel_connected(lab: Lab, path: str) -> None:
    """Wait until the server has a kernel for the notebook at ``path``, idle, with the page connected to it.

    The page shows the kernel as idle a moment before its connection is in place; cells run in that
    moment are silently not sent (Run All then leaves every prompt empty), so ask the server too.
    """
    deadline = time.monotonic() + KERNEL_TIMEOUT / 1000
    while time.monotonic() < deadline:
        kernels = [session["kernel"] for session in lab.api("/api/sessions") if session["path"] == path]
        if kernels and kernels[0].get("connections", 0) >= 1 and kernels[0]["execution_state"] == "idle":
            return
        time.sleep(0.5)
    raise AssertionError(f"no kernel connected to {path} within {KERNEL_TIMEOUT / 1000:.0f} s")


def _notebook(lab: Lab, path: str):
    """Open the notebook at ``path`` alone in the lab; return its panel once its kernel is idle."""
    lab.goto(f"/lab/tree/{path}?reset")
    panel = lab.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=KERNEL_TIMEOUT)
    _kernel_connected(lab, path)
    current = lab.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert current.inner_text().strip() == Path(path).name, f"the open tab is {current.inner_text()!r}"
    # Click into the notebook, as a person does before using the menus: the Run menu acts on the
    # notebook that has the focus, and right after loading none may have it (Run All then does nothing).
    panel.locator(".jp-MarkdownCell .jp-RenderedMarkdown").first.click()
    expect(panel.locator(".jp-Cell.jp-mod-active")).to_have_count(1)
    return panel


def _menu(lab: Lab, *labels: str) -> None:
    """Click through the menu bar: _menu(lab, "Run", "Run All Cells")."""
    for label in labels:
        lab.page.get_by_role("menuitem", name=label, exact=True).click()


def _code_cell(panel, text: str):
    """Return the code cell of ``panel`` whose source contains ``text`` (exactly one)."""
    cell = panel.locator(".jp-CodeCell").filter(has=panel.page.locator(".jp-InputArea", has_text=text))
    assert cell.count() == 1, f"{cell.count()} code cells contain {text!r}"
    return cell


def _no_news_popup(lab: Lab) -> None:
    """Fail if a notification or a dialog is shown over the lab."""
    time.sleep(NO_POPUP_WAIT)
    toasts = lab.page.locator(".Toastify__toast").all_inner_texts()
    assert not toasts, (f"a pop-up covers the notebook: {toasts} "
                        "(are the lab's settings installed? python3 tasks.py setup)")
    assert lab.page.locator(".jp-Dialog").count() == 0, "a dialog covers the notebook"


def _validate(lab: Lab, panel):
    """Press the notebook's Validate button; return nbgrader's results dialog once it shows."""
    panel.locator(".jp-Toolbar").get_by_text("Validate", exact=True).click()
    dialog = lab.page.locator(".jp-Dialog").filter(has_text="Validation Results")
    dialog.wait_for(timeout=VALIDATE_TIMEOUT)
    return dialog


def _close_dialog(lab: Lab) -> None:
    """Press OK in the dialog on screen and wait until it is gone."""
    lab.page.locator(".jp-Dialog .jp-mod-accept").click()
    lab.page.locator(".jp-Dialog").wait_for(state="detached")


def test_the_practice_notebook_opens_with_nothing_over_it(lab):
    """The README's command opens the first practice notebook; no news pop-up covers it."""
    with lab.step("open the lab"):
        lab.goto("/")  # the lab's default page, as `python3 tasks.py lab` opens it in a browser
        panel = lab.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=KERNEL_TIMEOUT)
        assert lab.page.url.endswith(f"/lab/tree/notebooks/{ASSIGNMENT}/{NB1}.ipynb"), lab.page.url
        expect(panel.locator("h1", has_text="01 · Overfitting and the test loop")).to_have_count(1)
        expect(panel.locator(".jp-Toolbar").get_by_text("Validate", exact=True)).to_be_visible()
        _no_news_popup(lab)


def test_run_all_stops_at_the_placeholder_and_a_pasted_answer_passes_its_checks(lab):
    """Run All on a fresh copy stops at the first check ("not written yet"); after pasting a correct
    evaluate() and running it and the checks below it (Shift+Enter), each visible check prints OK and
    each hidden one its line."""
    with lab.step("open a fresh copy of notebook 01 and run all cells"):
        panel = _notebook(lab, _practice_copy(NB1, f"{NB1}_student"))
        _menu(lab, "Run", "Run All Cells")
        setup = _code_cell(panel, "# Setup: run this cell first.").locator(".jp-InputPrompt")
        expect(setup, "Run All did not start the first cell").not_to_have_text("[ ]:")
        failed = panel.locator(".jp-CodeCell").filter(
            has=lab.page.locator(".jp-OutputArea", has_text="not written yet"))
        failed.first.wait_for(state="attached", timeout=KERNEL_TIMEOUT)
        assert failed.count() == 1
        assert "Check that evaluate() returns the MEAN squared error" in failed.locator(".jp-InputArea").text_content()
        failed.locator(".jp-OutputArea").scroll_into_view_if_needed()
        output = " ".join(failed.locator(".jp-OutputArea").text_content().split())
        assert ("CheckFailed: evaluate() is not written yet: replace the `raise NotImplementedError(...)` line "
                "with your code.") in output, output
        # Run All stopped there: the next check never ran.
        later = _code_cell(panel, "Check that evaluate() returns the accuracy")
        assert later.locator(".jp-InputPrompt").text_content().strip() == "[ ]:"
    answer = solution_answers(ROOT)[NB1]["nb01-evaluate"]
    with lab.step("paste a correct evaluate() and run it and the checks below it"):
        cell = _code_cell(panel, "def evaluate(images, labels, weights_0_1, weights_1_2):")
        cell.scroll_into_view_if_needed()
        editor = cell.locator(".cm-content")
        editor.click()
        lab.page.keyboard.press("Control+a")
        # What the browser does on Ctrl+V: a paste event that carries the text; the editor inserts it as is.
        editor.evaluate("""(node, text) => {
            const data = new DataTransfer();
            data.setData('text/plain', text);
            node.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
        }""", answer)
        pasted = editor.text_content()
        assert "NotImplementedError" not in pasted and "np.argmax" in pasted, pasted
        for _ in range(7):  # the answer, the "Check yourself" text, then the five check cells
            lab.page.keyboard.press("Shift+Enter")
        for ok in ("Mean error: OK", "Accuracy: OK"):
            panel.get_by_text(ok).first.wait_for(state="attached", timeout=KERNEL_TIMEOUT)
        panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=KERNEL_TIMEOUT)
        shown = " ".join(panel.locator(".jp-OutputArea").all_text_contents())
        assert "CheckFailed" not in shown and "Error" not in shown, shown
        assert shown.count(HIDDEN_NOTE) == 3, shown  # the three hidden checks say what they are
        _code_cell(panel, "Check that evaluate() returns the accuracy").scroll_into_view_if_needed()


def test_validate_passes_a_complete_notebook(lab):
    """The Validate button on a notebook with every answer filled in reports success."""
    answers = solution_answers(ROOT)[NB2]
    with lab.step("press Validate on a complete notebook 02"):
        panel = _notebook(lab, _practice_copy(NB2, f"{NB2}_complete", answers))
        dialog = _validate(lab, panel)
        expect(dialog.locator(".validation-success")).to_contain_text("Success! Your notebook passes all the tests.")
        expect(dialog.locator(".validation-failed")).to_have_count(0)
    _close_dialog(lab)


def test_validate_names_the_failing_check(lab):
    """The Validate button on a notebook with a typical mistake names the check it fails, and why."""
    mutant = MUTANTS["stops_on_test_set"]
    answers = {**solution_answers(ROOT)[NB2], mutant.cell: mutant.code}
    with lab.step("press Validate on notebook 02 scored on the test set"):
        panel = _notebook(lab, _practice_copy(NB2, f"{NB2}_wrong", answers))
        dialog = _validate(lab, panel)
        # nbgrader shows, per failed cell, its source (whose first line names the check), then the error.
        shown = dialog.locator(".validation-failed .jp-RenderedText pre")
        expect(shown).to_have_count(2 * len(mutant.fails))
        source, error = shown.nth(0).text_content(), " ".join(shown.nth(1).text_content().split())
        assert source.startswith('"""Check that validation_accuracy() scores the weights on the validation set'), source
        assert "CheckFailed" in error and mutant.message in error, error
        shown.nth(1).scroll_into_view_if_needed()
    _close_dialog(lab)


def test_a_guide_page_opens_rendered_with_its_figures(lab):
    """Double-clicking a page of the lab guide opens it rendered, headings and figures, not as Markdown source."""
    page_md = ROOT / "labguide" / "04_dropout.md"
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page_md.read_text())
    with lab.step("double-click labguide/04_dropout.md in the file browser"):
        lab.goto("/lab?reset")
        lab.page.locator(".jp-BreadCrumbs-home").click()
        for name in ("labguide", page_md.name):
            lab.page.locator(".jp-DirListing-item").filter(
                has=lab.page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))).dblclick()
        viewer = lab.page.locator(".jp-MarkdownViewer:not(.lm-mod-hidden)")
        editor = lab.page.locator(".jp-FileEditor:not(.lm-mod-hidden)")
        viewer.or_(editor).first.wait_for()
        assert editor.count() == 0, ("the page opened as Markdown source in the text editor, not rendered: "
                                     "are the lab's settings installed (python3 tasks.py setup)?")
        viewer.get_by_role("heading", name="What does the 2 do?").wait_for()
        images = viewer.locator("img")
        assert images.count() == len(figures) >= 1, f"{images.count()} images shown, the page has {figures}"
        for i in range(images.count()):
            image = images.nth(i)
            image.scroll_into_view_if_needed()
            lab.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                                       timeout=UI_TIMEOUT)
        viewer.get_by_role("heading", name="What does the 2 do?").scroll_into_view_if_needed()


def _dismiss(frame, message: str) -> None:
    """Wait for the formgrader's pop-up saying ``message``, press its button and wait until it is gone."""
    frame.get_by_text(message).wait_for()
    frame.locator(".modal-footer button").first.click()
    expect(frame.locator(".modal-backdrop")).to_have_count(0)


def test_the_formgrader_lists_ch8_with_release_and_collect(lab):
    """Nbgrader → Formgrader shows ch8 with a release button, and a collect button once released.

    On a fresh clone ch8 is a draft: the test releases it to the course's exchange (course/, git-ignored),
    looks for collect, and unreleases it again (nbgrader keeps the course's then empty exchange folders).
    """
    with lab.step("open Nbgrader → Formgrader"):
        lab.goto("/lab?reset")
        _menu(lab, "Nbgrader", "Formgrader")
        frame = lab.page.frame_locator("#formgrader iframe")
        row = frame.locator("tr").filter(has=frame.locator("td", has_text=re.compile(f"^{ASSIGNMENT}$")))
        row.wait_for()
        expect(row.locator("td.release a"), "no release button for ch8: nbgrader finds no usable exchange "
               "(course/exchange must exist and be writable by everyone)").to_have_count(1)
        released_before = row.locator("td.status").text_content().strip() == "released"
    released_here = False
    try:
        with lab.step("release ch8 and see collect appear"):
            if not released_before:
                row.locator("td.release a").click()
                _dismiss(frame, f"Successfully released '{ASSIGNMENT}'.")
                released_here = True
            expect(row.locator("td.status")).to_have_text("released")
            expect(row.locator("td.collect a"), "no collect button for ch8").to_have_count(1)
    finally:
        if released_here:  # leave the course's exchange as it was
            with lab.step("unrelease ch8 again"):
                row.locator("td.release a").click()
                _dismiss(frame, f"Successfully unreleased '{ASSIGNMENT}'.")
                expect(row.locator("td.status")).to_have_text("draft")


def test_the_class_report_opens_with_its_figures(browser, graded_class, tmp_path):
    """The class report of the synthetic class opens from disk (file://, no server) with every figure shown."""
    page_path, *_ = write_report(graded_class, tmp_path)
    context = browser.new_context(viewport={"width": 1100, "height": 1400}, offline=True)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    try:
        with step(page, "open the class report"):
            page.goto(page_path.as_uri())
            expect(page.get_by_role("heading", name=f"Class report: {ASSIGNMENT}")).to_be_visible()
            images = page.locator("img")
            assert images.count() >= 2, f"{images.count()} figures in the report"
            for i in range(images.count()):
                page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                       arg=images.nth(i).element_handle(), timeout=UI_TIMEOUT)
            expect(page.get_by_role("heading", name="Most frequent mistakes")).to_be_visible()
            if os.environ.get("LABGUIDE_SCREENSHOTS") == "1":
                GUIDE_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(GUIDE_SCREENSHOT))
    finally:
        context.close()


# ------------------------------------------------------------------- written answers, graded by hand

GRADED_BY_HAND = "nb01-written-noise-answer"  # the written answer the instructor grades in the browser
WRITTEN_ANSWER = "It overfits: after epoch 10 it learns the 1,000 training images by heart."
WRITTEN_COMMENT = ("Right word. Now say what it fits: which details of the training images, and why they are "
                   "not in the test images.")
FEEDBACK_TIMEOUT = 120_000  # ms: the formgrader writes the feedback pages of a small class
FORMGRADER_SCREENSHOT = ROOT / "labguide" / "figures" / "screenshots" / "formgrader_written_answer.png"


@pytest.fixture(scope="module")
def written_course(tmp_path_factory) -> Path:
    """A scratch course: ada handed in notebook 01 complete with her own written answer, ben the untouched copy;
    both autograded as `python3 tasks.py autograde` does."""
    course = make_scratch_course(tmp_path_factory.mktemp("written"))
    released = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert released.returncode == 0, released.stderr[-3000:]
    write_submission(course, "ada", NB1, {**solution_answers(course)[NB1], GRADED_BY_HAND: WRITTEN_ANSWER})
    write_submission(course, "ben", NB1)
    graded = autograde(course, "--jobs", "2")
    assert graded.returncode == 0, (graded.stdout + graded.stderr)[-3000:]
    # autograding leaves ada's two answers to a person; ben's placeholders score 0 at once
    assert "Written answers: 2 waiting for grading by hand (formgrader, Manual Grading), 0 graded, 2 left blank" in (
        graded.stdout)
    return course


@pytest.fixture(scope="module")
def formgrader(written_course, tmp_path_factory) -> Iterator[Lab]:
    """A Jupyter server started in the scratch course, as an instructor starts one there: its formgrader grades it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "jupyter", "server"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # as tasks.py lab does in containers and classroom VMs
    try:
        server = _start_server(command, written_course, tmp_path_factory.mktemp("formgrader"),
                               RESULTS / "formgrader.log", "the formgrader's Jupyter server")
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        _stop_lab(server)


def _answer_panel(page, grade_id: str):
    """Return the formgrader's panel of one answer cell (its points box has the cell's grade_id as id)."""
    return page.locator(".nbgrader_cell").filter(has=page.locator(f"input.score#{grade_id}"))


def _submission_ready(page) -> None:
    """Wait until a submission's page has loaded its grades and comments: before that, typed points are not saved.

    (Not ``formgrader.loaded``: in this formgrader the page's init never gets as far as setting it;
    the grades and comments it binds first are what a typed score needs.)
    """
    page.wait_for_function("() => window.formgrader && formgrader.grades && formgrader.grades.loaded "
                           "&& formgrader.comments && formgrader.comments.loaded", timeout=UI_TIMEOUT)


def _saved(page, what: str):
    """Wait for the formgrader's page to save a grade or a comment (its PUT to the API) and return the response."""
    return page.expect_response(lambda r: f"/formgrader/api/{what}/" in r.url and r.request.method == "PUT")


def test_an_instructor_grades_a_written_answer_and_the_student_reads_it(browser, formgrader, written_course):
    """Manual Grading flags ada's notebook 01; her written answer gets 1 point and a comment; ben's blank one shows
    as blank (the placeholder, 0 points, "No response."); Generate Feedback; ada's page shows points and comment."""
    stub = next(c.source for c in nbformat.read(written_course / "notebooks" / ASSIGNMENT / f"{NB1}.ipynb",
                                                as_version=4).cells if c.get("id") == GRADED_BY_HAND)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    formgrader.page = page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    try:
        with formgrader.step("open the formgrader's Manual Grading: notebook 01 needs grading by hand"):
            formgrader.goto("/formgrader")
            page.get_by_role("link", name="Manual Grading").click()
            page.locator("#main-table a", has_text=re.compile(f"^{ASSIGNMENT}$")).click()
            row = page.locator("#main-table tr").filter(has=page.locator("td.name", has_text=NB1))
            expect(row.locator("td.avg-written-score")).to_have_text("0 / 4")
            expect(row.locator("td.needs-manual-grade .glyphicon-ok")).to_have_count(1)
            row.locator("td.name a").click()
            students = page.locator("#main-table tr")
            ada, ben = (students.filter(has=page.locator("a.name-shown", has_text=name)) for name in ("ada", "ben"))
            expect(ada.locator("td.needs-manual-grade .glyphicon-ok")).to_have_count(1)
            expect(ben.locator("td.needs-manual-grade .glyphicon-ok")).to_have_count(0)  # blank: nothing to grade
            expect(ben.locator("td.written-score")).to_have_text("0 / 4")
            page.get_by_role("button", name="Show All Names").click()  # the list hides names until asked
            expect(ada.locator("a.name-shown")).to_be_visible()
        with formgrader.step("open ada's notebook 01 and give her written answer 1 point and a comment"):
            ada.locator("a.name-shown").click()
            _submission_ready(page)
            panel = _answer_panel(page, GRADED_BY_HAND)
            expect(panel.locator(".panel-heading")).to_contain_text("Student's answer")
            expect(panel.locator(".text_cell_render")).to_have_text(WRITTEN_ANSWER)
            question = page.get_by_role("heading", name=re.compile("Written question 2 .*graded by hand"))
            expect(question).to_be_visible()
            points = panel.locator("input.score")
            expect(points).to_have_value("")  # waiting: no points until the grader gives some
            with _saved(page, "grade") as grade:
                points.fill("1")
                points.press("Tab")  # the formgrader saves a box when the grader leaves it
            with _saved(page, "comment") as comment:
                panel.locator("textarea.comment").fill(WRITTEN_COMMENT)
                panel.locator("textarea.comment").press("Tab")
            assert grade.value.ok and comment.value.ok
            stored = {a.question: a for a in answers(course_settings(written_course)) if a.student == "ada"}
            assert stored[GRADED_BY_HAND] == Answer("ada", NB1, GRADED_BY_HAND, "graded", 1, 2, WRITTEN_COMMENT)
            # the question at the top, out from under the formgrader's bar
            question.evaluate("node => { node.scrollIntoView({block: 'start'}); window.scrollBy(0, -70); }")
            if os.environ.get("LABGUIDE_SCREENSHOTS") == "1":
                top, bottom = question.bounding_box(), panel.bounding_box()
                FORMGRADER_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(FORMGRADER_SCREENSHOT), clip={
                    "x": bottom["x"] - 10, "y": top["y"] - 10, "width": bottom["width"] + 20,
                    "height": bottom["y"] + bottom["height"] - top["y"] + 20})
        with formgrader.step("see ben's blank written answer as the grader sees it"):
            page.get_by_role("link", name=NB1, exact=True).click()
            expect(ben.locator("td.written-score")).to_have_text("0 / 4")
            page.get_by_role("button", name="Show All Names").click()
            ben.locator("a.name-shown").click()
            _submission_ready(page)
            panel = _answer_panel(page, GRADED_BY_HAND)
            expect(panel.locator(".text_cell_render")).to_have_text(stub)
            expect(panel.locator("input.score")).to_have_value("")
            expect(panel.locator("input.score")).to_have_attribute("placeholder", "0")
            expect(panel.locator("textarea.comment")).to_have_attribute("placeholder", "No response.")
            panel.scroll_into_view_if_needed()
        with formgrader.step("generate the feedback in Manage Assignments"):
            formgrader.goto("/formgrader/manage_assignments")
            row = page.locator("tr").filter(has=page.locator("td", has_text=re.compile(f"^{ASSIGNMENT}$")))
            row.locator("td.generate-feedback a").click()
            done = f"Successfully generated feedback of '{ASSIGNMENT}'."
            page.get_by_text(done).wait_for(timeout=FEEDBACK_TIMEOUT)
            _dismiss(page, done)
    finally:
        context.close()
    student = browser.new_context(viewport={"width": 1100, "height": 900}, offline=True)
    page = student.new_page()
    page.set_default_timeout(UI_TIMEOUT)
    try:
        with step(page, "ada opens her feedback page: the points and the comment", formgrader.log):
            page.goto((written_course / "course" / "feedback" / "ada" / ASSIGNMENT / f"{NB1}.html").as_uri())
            expect(page.locator("h4").first).to_have_text(f"{NB1} (Score: 8.0 / 11.0)")  # 7 autograded + 1
            toc = page.locator("#toc li").filter(has_text="Written response")
            expect(toc).to_have_text(["Written response (Score: 0.0 / 2.0)", "Written response (Score: 1.0 / 2.0)"])
            panel = page.locator(".nbgrader_cell").filter(has_text=WRITTEN_ANSWER)
            expect(panel.locator(".panel-heading")).to_contain_text("Score: 1.0 / 2.0")
            expect(panel.locator(".panel-footer")).to_have_text(f"Comments: {WRITTEN_COMMENT}")
            panel.scroll_into_view_if_needed()
    finally:
        student.close()


def test_a_written_answer_graded_through_the_formgraders_http_api(formgrader, written_course):
    """instructor.written.grade_in_formgrader (the class hub's test calls it too): points and comment reach the
    gradebook and the export; an unknown question or a notebook not handed in is refused in words."""
    url, question = f"{formgrader.url}/formgrader", "nb01-written-measuring-answer"
    stored = grade_in_formgrader(url, formgrader.token, "ada", NB1, question, 2, "Both parts, well put.")
    assert (stored["manual_score"], stored["needs_manual_grade"]) == (2, False)
    found = {a.question: a for a in answers(course_settings(written_course)) if a.student == "ada"}
    assert found[question] == Answer("ada", NB1, question, "graded", 2, 2, "Both parts, well put.")
    with pytest.raises(LookupError, match="has no graded cell nb01-no-such-question"):
        grade_in_formgrader(url, formgrader.token, "ada", NB1, "nb01-no-such-question", 1)
    with pytest.raises(LookupError, match=f"no autograded {NB2} of ada"):
        grade_in_formgrader(url, formgrader.token, "ada", NB2, "nb02-written-patience-answer", 1)
    exported = nbgrader(written_course, "export", "--to", "grades.csv")
    assert exported.returncode == 0, exported.stderr[-3000:]
    with open(written_course / "grades.csv", newline="") as handle:
        score = next(float(r["score"]) for r in csv.DictReader(handle) if r["student_id"] == "ada")
    assert score == sum(points for points, _ in cell_scores(written_course, "ada").values()) >= 7 + 2


def test_the_checkout_is_left_as_it_was(lab, checkout_before):
    """Running, pasting and validating happened on copies: the lab's tracked files are unchanged."""
    assert _checkout_fingerprint() == checkout_before
