"""The course's own nbgrader steps; nbgrader_config.py loads them (nbgrader itself is never edited).

``GradingExecute`` (autograde's Execute step) runs a student's notebook so that only the checks
decide its points:
  * a check earns its points when it runs to the end without raising, and for no other reason:
    text on stderr (a warning) does not cost points, and a value shown by ``sys.displayhook`` (which
    nbgrader would read as "partial credit") does not give any;
  * a kernel that dies (``os._exit``, a crash in compiled code, the out-of-memory killer) ends only
    that notebook: the checks that ran keep their points, the cells after it are marked as not run
    (0 points) and say why in words; the student's other notebooks are graded as usual;
  * each kernel gets a memory limit, so one student's runaway array cannot take the machine (and
    the other students being graded beside it) down; a too large array raises MemoryError instead;
  * every check runs in the grader, not in the student's kernel (instructor/checker.py): the kernel
    only serves the calls the check makes to the student's functions, across a data-only channel,
    so nothing a student cell does to its own process can change a verdict;
  * the kernel runs in the grading sandbox (instructor/sandbox.py): it sees a copy of its own
    folder and nothing else of the course, has no network, and nothing it starts outlives it;
  * the whole notebook has a time budget on top of nbgrader's per-cell limit;
  * the demonstration cells after the notebook's last check are not run: no grade depends on them;
  * a flood of printing is cut in the grader, before it fills the grader's memory.
It writes what happened to each notebook, with one verdict per check, to ``status_dir``
(instructor/verdicts.py): the summary, the report and the integrity table read it.

``HideHiddenChecks`` (feedback): whatever a hidden check raised, its cell shows one sentence, and
no output anywhere repeats a line of hidden check code.

``UnreadableNotebooks`` (autograde's pre/post-convert hooks): a submitted file that is not a
notebook (truncated, not JSON, ...) scores 0 with a page saying which file and what is wrong,
instead of making nbgrader skip the student's remaining notebooks.

``RestoreMissingCells``: nbgrader 0.9's ``OverwriteCells.add_missing_cells`` puts a deleted test cell
back after the source cell just before it, but only finds that cell if it is a graded or an answer
cell: a locked Markdown cell there (or a deleted answer cell) makes it crash with ``KeyError``. Here
the cell goes after the nearest earlier cell that is present.
"""
from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, OverwriteCells
from traitlets import Bool, Integer, Unicode

from instructor.checker import SETUP_SUFFIXES, CheckRun, notebook_namespace
from instructor.submissions import normalise
from instructor.verdicts import NOT_RUN, STOPPED, Record, Verdict, error_output, note, outputs, write_record

_OWN_ERRORS = {"CheckFailed", NOT_RUN, STOPPED}  # errors whose message is already meant for students


def _grade_id(cell: NotebookNode) -> str | None:
    """Return the nbgrader grade_id of a cell, or None for a cell nbgrader does not track."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_check(cell: NotebookNode) -> bool:
    """Tell whether ``cell`` is a graded code cell (a check that earns points)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def death_reason(returncode: int | None) -> str:
    """Return, in words, why a kernel process ended with ``returncode`` (negative: a signal)."""
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        number = -returncode
        if number == signal.SIGKILL:
            return ("was killed by the operating system (signal 9), which most often means it ran out "
                    "of memory")
        if number == signal.SIGSEGV:
            return "crashed inside compiled code (segmentation fault, signal 11)"
        if number == signal.SIGXCPU:
            return "used up its CPU time (signal 24, SIGXCPU)"
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "an unknown signal"
        return f"was stopped by signal {number} ({name})"
    if returncode == 0:
        return "ended itself (exit code 0: exit() or quit() was called)"
    return f"ended itself with exit code {returncode} (a call such as os._exit({returncode}))"


class GradingExecute(Execute):
    """nbgrader's Execute for untrusted notebooks: sealed checks, a sandboxed kernel, isolated crashes."""

    notebook_timeout = Integer(
        300, help="Seconds one notebook may run in all; later cells get what is left (at least 1 s)."
    ).tag(config=True)
    memory_limit_mb = Integer(
        4096, help="Address-space limit of each grading kernel in MiB (0: none). Linux only."
    ).tag(config=True)
    skip_after_last_check = Bool(
        True, help="Do not run the cells after a notebook's last graded cell (no grade depends on them)."
    ).tag(config=True)
    sandbox = Bool(
        True, help="Run every grading kernel in the bubblewrap sandbox (instructor/sandbox.py). Turn off only "
                   "where every submission is trusted: a warning says so on every run."
    ).tag(config=True)
    output_limit = Integer(
        20_000, help="Characters of printed text kept per cell; the rest is dropped while it arrives."
    ).tag(config=True)
    status_dir = Unicode("", help="Folder for one record per graded notebook ('' for none).").tag(config=True)
    # One stream output per cell and stream, however the kernel happened to flush its prints, so that
    # the same submission always gives the same autograded notebook.
    coalesce_streams = Bool(True).tag(config=True)
    fork_kernels = Bool(
        True, help="Fork kernels from a warm process (instructor/forkserver.py); the sandbox needs it."
    ).tag(config=True)

    def __init__(self, *args: Any, sandbox_check: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not sandbox_check:
            return  # only reading the settings (the grading hooks ask whether the sandbox is wanted)
        if not self.sandbox:
            self.log.warning("GRADING WITHOUT THE SANDBOX (GradingExecute.sandbox = False): the students' code runs "
                             "with your rights, can read the solutions and the gradebook and can leave processes "
                             "behind. Only for submissions you trust.")
        elif os.name == "posix":
            from instructor.sandbox import problem

            missing = problem()
            if missing:
                # SystemExit, not an exception: nbgrader would log an exception and go on to the next student
                self.log.error(missing)
                raise SystemExit(f"Autograding stopped: {missing}")
        if (self.fork_kernels or self.sandbox) and os.name == "posix":
            from instructor.forkserver import ForkingKernelManager

            self.kernel_manager_class = ForkingKernelManager

    def preprocess(self, nb: NotebookNode, resources: dict | None = None, km=None):
        """Run the notebook cell by cell, each check sealed in the grader, and record one verdict per check."""
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.start_clock()
        started = time.monotonic()
        info = (resources or {}).get("nbgrader", {})
        self._record = Record(info.get("student", ""), info.get("notebook", ""), sandbox="on" if self.sandbox else "off")
        sources = self._source_cells(info)
        self._namespace = None
        self._setup_sources = [sources[name] for name in sources if name.endswith(SETUP_SUFFIXES)]
        # the last code cell that is a check or an answer: later code cells are demonstrations (a written
        # answer, a Markdown cell graded by hand, may come after them and does not count here)
        last = max((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and _grade_id(cell) and (
            cell.metadata.nbgrader.get("grade") or cell.metadata.nbgrader.get("solution"))), default=len(nb.cells))
        stop: str | None = None  # why the remaining cells do not run
        with self.setup_kernel():
            reply = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = reply["content"]["language_info"]
            self._limit_memory_unsandboxed()
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                if stop is None and self.skip_after_last_check and index > last:
                    cell.outputs = [note("(not run while grading: no check depends on this cell)\n")]
                    continue
                if stop is None and time.monotonic() >= self._deadline:
                    stop = (f"the notebook used up its {self.notebook_timeout} s of grading time before this "
                            "cell")
                    self._record.partly(f"time budget of {self.notebook_timeout} s spent before cell "
                                        f"{_grade_id(cell) or index}")
                if stop is not None:
                    self._mark_not_run(cell, stop)
                    continue
                self._last_status, self._exit_asked, self._interrupts = "error", False, 0
                try:
                    if _is_check(cell):
                        self._run_check(cell, resources, index, sources.get(_grade_id(cell), cell.source))
                    else:
                        self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    reason = death_reason(self._returncode())
                    # What a dying process printed last, and whether its cell got a number, depends on
                    # timing: the cell keeps only the explanation, so a regrade gives the same page.
                    cell.execution_count = None
                    message = (f"The Python process running this notebook {reason} while this cell ran. This "
                               "cell and the ones after it did not run and score 0; the checks above keep "
                               "their points.")
                    cell.outputs = [error_output(STOPPED, message)]
                    if _is_check(cell):
                        self._verdict(cell, "kernel stopped", message)
                    stop = f"the Python process running the notebook {reason} earlier (see above)"
                    self._record.partly(f"the kernel {reason} in cell {_grade_id(cell) or index}")
                    continue
                if getattr(self, "_exit_asked", False):
                    reason = death_reason(0)
                    cell.outputs.append(note(
                        "The notebook called exit() or quit() here, which ends its Python process: the "
                        "cells after this one did not run and their checks score 0.\n"))
                    stop = "exit() or quit() ended the notebook's Python process earlier (see above)"
                    self._record.partly(f"the kernel {reason} in cell {_grade_id(cell) or index}")
        self.set_widgets_metadata()
        self._record.seconds = round(time.monotonic() - started, 2)
        if self.status_dir and self._record.student:
            write_record(Path(self.status_dir), self._record)
        return self.nb, self.resources

    # -- the checks, sealed ---------------------------------------------------------------------
    def _source_cells(self, info: dict) -> dict[str, str]:
        """Return {grade_id: source} of the notebook's source cells, from the gradebook (the instructor's own)."""
        if not info.get("db_url"):
            return {}
        from nbgrader.api import Gradebook, MissingEntry

        course_id = self.config.get("CourseDirectory", {}).get("course_id", "default")
        try:
            with Gradebook(info["db_url"], course_id) as gb:
                notebook = gb.find_notebook(info["notebook"], info["assignment"])
                return {cell.name: cell.source for cell in notebook.source_cells}
        except MissingEntry:
            return {}

    def _run_check(self, cell: NotebookNode, resources: dict, index: int, source: str) -> None:
        """Run a check in the grader while the kernel serves its calls; write its verdict into the cell."""
        if self._namespace is None:
            self._namespace = notebook_namespace(self._setup_sources)
        run = CheckRun(_grade_id(cell), source, self._namespace, Path(getattr(self.km, "kernel_dir", tempfile.gettempdir())),
                       timeout=self.cell_timeout(cell) + 10)
        serving = nbformat.v4.new_code_cell(run.serve_code(), metadata=cell.metadata)
        try:
            self.preprocess_cell(serving, resources, index)
        finally:
            outcome = run.finish()
            self.nb.cells[index] = cell  # nbclient put the serving cell in its place; the check's own cell stays
        cell.execution_count = serving.execution_count
        verdict = self._verdict(cell, outcome.why, "" if outcome.passed else outcome.evalue, outcome.printed)
        verdict.cpu = outcome.cpu
        cell.outputs = outputs(verdict, serving.outputs, outcome.ename, outcome.traceback)

    def _verdict(self, cell: NotebookNode, why: str, message: str, printed: str = "") -> Verdict:
        """Record (and return) the verdict of one check cell."""
        points = float(cell.metadata.nbgrader.get("points", 0))
        verdict = Verdict(_grade_id(cell), points if why == "passed" else 0.0, points, why, message, printed)
        self._record.verdicts = [v for v in self._record.verdicts if v.check != verdict.check] + [verdict]
        return verdict

    # -- the notebook's clock -------------------------------------------------------------------
    def start_clock(self) -> None:
        """Give the notebook about to run its full budget; cells then ask cell_timeout()."""
        self._deadline = time.monotonic() + self.notebook_timeout
        self.timeout_func = self.cell_timeout

    def cell_timeout(self, cell: NotebookNode) -> int:
        """Return the seconds ``cell`` may run: the per-cell limit, or what is left of the budget."""
        left = int(self._deadline - time.monotonic())
        return max(1, min(self.timeout, left))

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None):
        """Interrupt a cell that ran too long; if it is still running one timeout later, end the kernel."""
        self._interrupts = getattr(self, "_interrupts", 0) + 1
        if self._interrupts > 1:  # the interrupt was caught or ignored: no wait of the grader is unbounded
            self.log.error("The kernel ignored the interrupt; ending it")
            await ensure_async(self.km.shutdown_kernel(now=True))
            raise DeadKernelError("the kernel did not stop when interrupted")
        return await super()._async_handle_timeout(timeout, cell)

    # -- the kernel -------------------------------------------------------------------------------
    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        """Start the kernel with this notebook's limits (the sandbox applies them before any student code)."""
        if self.km is not None and hasattr(self.km, "limits"):
            self.km.sandbox = self.sandbox
            self.km.limits = {"memory_mb": self.memory_limit_mb,
                              "cpu_seconds": self.notebook_timeout + 30 if self.notebook_timeout > 0 else 0}
        await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    def _limit_memory_unsandboxed(self) -> None:
        """Without the sandbox, ask the kernel itself to limit its memory (trusted submissions only)."""
        if not self.sandbox and self.memory_limit_mb > 0:
            limit = self.memory_limit_mb * 2 ** 20
            msg_id = self.kc.execute(f"import resource as _r\n_r.setrlimit(_r.RLIMIT_AS, ({limit}, {limit}))\ndel _r",
                                     silent=True, store_history=False)
            self.wait_for_reply(msg_id)

    def _returncode(self) -> int | None:
        """Return the dead kernel's exit status (negative: the signal that ended it), if known."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is None:
            return None
        try:
            return process.wait(timeout=5)
        except Exception:  # noqa: BLE001 (still running or not a child: nothing better to say)
            return None

    # -- outputs ----------------------------------------------------------------------------------
    def output(self, outs: list[NotebookNode], msg: dict, display_id: str | None, cell_index: int):
        """Keep at most ``output_limit`` characters of printed text per cell, dropping the rest as it arrives."""
        if msg["msg_type"] == "stream" and self.output_limit > 0:
            kept = sum(len(o.get("text", "")) for o in outs if o.get("output_type") == "stream")
            if kept >= self.output_limit:
                return None
            text = msg["content"].get("text", "")
            if kept + len(text) > self.output_limit:
                msg["content"]["text"] = text[:self.output_limit - kept] + "\n... (printed output cut here by the grader)\n"
        return super().output(outs, msg, display_id, cell_index)

    def on_cell_executed(self, **kwargs: Any) -> None:
        """Remember whether the kernel says the cell raised (nbgrader adds a missing error output)."""
        super().on_cell_executed(**kwargs)
        content = kwargs["execute_reply"]["content"]
        self._last_status = content["status"]
        # exit() or quit() in a cell asks the kernel to shut down a moment later: end the notebook
        # here, at the same cell every time, rather than wherever the shutdown happens to land.
        self._exit_asked = any(p.get("source") == "ask_exit" for p in content.get("payload", []))

    def _mark_not_run(self, cell: NotebookNode, why: str) -> None:
        """Give a cell that grading could not run an explanation (and 0 points if it is a check)."""
        if _is_check(cell):
            message = f"This check did not run: {why}. It scores 0."
            cell.outputs = [error_output(NOT_RUN, message)]
            self._verdict(cell, "not run", message)
        else:
            cell.outputs = [note(f"(not run: {why})\n")]


class HideHiddenChecks(NbGraderPreprocessor):
    """Feedback step: a hidden check's cell shows one sentence, and no output repeats hidden code."""

    begin = Unicode("### BEGIN HIDDEN TESTS").tag(config=True)
    end = Unicode("### END HIDDEN TESTS").tag(config=True)
    min_line = Integer(12, help="Hidden lines shorter than this (like `try:`) are too common to hide.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict):
        """Reduce the errors of hidden-check cells to their message; drop output lines that quote hidden code."""
        hidden_cells, hidden_lines = set(), set()
        for index, cell in enumerate(nb.cells):
            inside = False
            for line in cell.source.splitlines():
                if self.begin in line:
                    inside = True
                    hidden_cells.add(index)
                elif self.end in line:
                    inside = False
                elif inside and len(line.strip()) >= self.min_line:
                    hidden_lines.add(" ".join(line.split()))
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            outputs = []
            for output in cell.outputs:
                if output.output_type == "error" and (index in hidden_cells or output.ename not in _OWN_ERRORS):
                    output = self._one_sentence(output, hidden=index in hidden_cells)
                outputs.append(self._without(output, hidden_lines))
            cell.outputs = outputs
        return nb, resources

    @staticmethod
    def _one_sentence(output: NotebookNode, hidden: bool) -> NotebookNode:
        """Return an error output that is only a sentence for the student."""
        if output.ename in _OWN_ERRORS:
            return error_output(output.ename, output.evalue)
        if not hidden:
            return output  # a visible check's traceback shows visible code only
        if output.ename in ("KeyboardInterrupt", "CellTimeoutError"):
            words = "This hidden check did not finish in time: look for a loop that never ends."
        elif output.ename == "SystemExit":
            words = "This hidden check stopped because your code tried to end the program (exit() or sys.exit())."
        else:
            words = (f"This hidden check stopped with an error ({output.ename}) while it used your answer, "
                     "so it could not give its points. Compare what your function returns (types and shapes) "
                     "with what its docstring asks for.")
        return error_output("CheckFailed", words)

    @staticmethod
    def _without(output: NotebookNode, hidden_lines: set[str]) -> NotebookNode:
        """Return ``output`` with every text line that quotes a hidden line removed."""
        def clean(text: str) -> str:
            lines = text.split("\n")
            kept = [line for line in lines if not any(h in " ".join(line.split()) for h in hidden_lines)]
            return "\n".join(kept) if len(kept) < len(lines) else text
        if not hidden_lines:
            return output
        if output.output_type == "stream":
            output.text = clean(output.text)
        elif output.output_type == "error":
            output.traceback = [clean(line) for line in output.traceback]
            output.evalue = clean(output.evalue)
        elif "data" in output:
            for kind in ("text/plain", "text/html", "text/markdown"):
                if kind in output.data and isinstance(output.data[kind], str):
                    output.data[kind] = clean(output.data[kind])
        return output


def unreadable_reason(path: Path) -> str | None:
    """Return why ``path`` is not a notebook nbgrader can grade, in words, or None if it is fine."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        return f"it cannot be opened ({error.strerror})"
    if not raw.strip():
        return "it is empty (0 bytes of notebook): it was probably not saved before handing in"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "it is not a text file (it is not UTF-8), so it is not a saved notebook"
    except json.JSONDecodeError as error:
        return (f"it is not a complete notebook file (invalid JSON at line {error.lineno}, column "
                f"{error.colno}: {error.msg}); it was probably cut off while saving or uploading")
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return "it is JSON but not a notebook (no list of cells)"
    try:
        nbformat.validate(nbformat.reads(raw.decode("utf-8"), as_version=4))
    except Exception as error:  # noqa: BLE001 (nbformat raises several kinds)
        return f"it is not a valid notebook ({type(error).__name__}: {str(error).splitlines()[0][:200]})"
    return None


def _student_of(notebook: str) -> str:
    """Return whose submission ``notebook`` is: the folder above its assignment's.

    (A convert hook's ``student`` argument is nbgrader's --student pattern, often "*", not a name.)
    """
    return Path(notebook).parent.parent.name


class UnreadableNotebooks:
    """Autograde hooks: skip files that are not notebooks, then score them 0 with a page that says why.

    Stateless on purpose: nbgrader copies its configuration, so the two hooks may be bound to two
    copies of this object; ``after`` finds the unreadable files again instead of remembering them.
    """

    def __init__(self, status_dir: str, release_dir: str, autograded_dir: str, default_db_url: str):
        self.status_dir, self.release_dir = Path(status_dir), Path(release_dir)
        self.autograded_dir, self.default_db_url = Path(autograded_dir), default_db_url

    def before(self, assignment: str, student: str, notebooks: list[str]) -> None:
        """pre_convert_hook: take every unreadable file out of ``notebooks`` (the list nbgrader will grade)."""
        for path in list(notebooks):
            # a byte-order mark, CRLF or nbformat 4.0-4.4 from another editor: graded as any other, and the
            # file as it was handed in is kept beside the student's grading records
            keep = Path(self.status_dir) / _student_of(path) / f"{Path(path).stem}.as-handed-in.ipynb"
            normalise(Path(path), keep=keep)
            if unreadable_reason(Path(path)) is not None:
                notebooks.remove(path)

    def after(self, assignment: str, student: str, notebooks: list[str]) -> None:
        """post_convert_hook: score each unreadable notebook of this submission 0, with a page and a status."""
        if notebooks:
            self.record_all(Path(notebooks[0]).parent, self._db_url())

    def record_all(self, submission: Path, db_url: str) -> list[tuple[str, str]]:
        """Record every unreadable notebook in one submission folder; return [(notebook, reason)]."""
        found = []
        for path in sorted(submission.glob("*.ipynb")):
            reason = unreadable_reason(path)
            if reason is not None:
                self.record(submission.parent.name, submission.name, path.stem, reason, db_url)
                found.append((path.stem, reason))
        return found

    def record(self, student: str, assignment: str, notebook: str, reason: str, db_url: str) -> None:
        """Store 0 points for every check of ``notebook``, a page saying why, and a status record."""
        from nbgrader.api import Gradebook

        with Gradebook(db_url) as gb:
            submitted = gb.find_submission_notebook(notebook, assignment, student)
            for grade in submitted.grades:
                grade.auto_score, grade.needs_manual_grade = 0, False
            gb.db.commit()
        message = (f"Your file {notebook}.ipynb could not be graded: {reason}. Every check of this "
                   "notebook scores 0. Open the file in JupyterLab to see whether your work is there, "
                   "save it (File → Save Notebook) and ask your instructor about handing it in again.")
        page = nbformat.read(self.release_dir / assignment / f"{notebook}.ipynb", as_version=4)
        page.cells.insert(0, nbformat.v4.new_markdown_cell(f"**Not graded.** {message}"))
        record = Record(student, notebook, "not graded", f"{notebook}.ipynb could not be read: {reason}", sandbox="")
        for cell in page.cells:
            if _is_check(cell):
                points = float(cell.metadata.nbgrader.get("points", 0))
                verdict = Verdict(_grade_id(cell), 0.0, points, "unreadable", message)
                record.verdicts.append(verdict)
                cell.outputs = outputs(verdict, [], NOT_RUN)
        out = self.autograded_dir / student / assignment / f"{notebook}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            out.chmod(0o644)  # nbgrader leaves autograded files read-only
        nbformat.write(page, out)
        write_record(self.status_dir, record)

    def _db_url(self) -> str:
        """Return the gradebook URL of the running nbgrader command (command-line settings included)."""
        from traitlets.config import Application

        app = Application.instance() if Application.initialized() else None
        coursedir = getattr(app, "coursedir", None)
        return getattr(coursedir, "db_url", None) or self.default_db_url


class GradingHooks(UnreadableNotebooks):
    """Autograde's pre/post-convert hooks, whoever runs autograde (tasks.py, nbgrader, the formgrader).

    Before a submission: take out files that are not notebooks. After it: score those 0 with a page
    that says why, scan the student's answer cells (instructor/integrity.py), and, unless the lab's
    runner is in charge (it does it once at the end), write the course's summary and integrity CSVs
    again from the grading records.
    """

    def __init__(self, course: str, default_db_url: str):  # noqa: super().__init__ not called: folders come from settings
        self.course, self.default_db_url = Path(course), default_db_url

    # where UnreadableNotebooks writes, read from the course's settings when it writes
    status_dir = property(lambda self: self.settings().status_dir)
    release_dir = property(lambda self: self.settings().release)
    autograded_dir = property(lambda self: self.settings().autograded)

    def settings(self):
        """Return the course's settings as the running nbgrader command sees them (command line included)."""
        from traitlets.config import Application

        from instructor.settings import course_settings

        app = Application.instance() if Application.initialized() else None
        config = getattr(app, "config", None)
        return course_settings(self.course, config=config if config and "CourseDirectory" in config else None)

    def before(self, assignment: str, student: str, notebooks: list[str]) -> None:
        """pre_convert_hook: stop before anything is written if the sandbox is wanted and cannot start; then as above."""
        from traitlets.config import Application

        app = Application.instance() if Application.initialized() else None
        if GradingExecute(config=getattr(app, "config", None), sandbox_check=False).sandbox:
            from instructor.sandbox import problem

            missing = problem()
            if missing:
                raise SystemExit(f"Autograding stopped: {missing}")  # not an exception: nbgrader would go on
        super().before(assignment, student, notebooks)

    def after(self, assignment: str, student: str, notebooks: list[str]) -> None:
        """post_convert_hook: unreadable files, the student's integrity scan, and (outside the runner) the CSVs."""
        super().after(assignment, student, notebooks)
        from instructor.autograde import RUNNER
        from instructor.integrity import kept_flags, scan_student, write_table
        from instructor.summary import locked, write_summary

        settings = self.settings()
        if notebooks:
            scan_student(settings, _student_of(notebooks[0]))
        if os.environ.get(RUNNER) != "1":
            with locked(settings):
                write_summary(settings)
                write_table(settings, kept_flags(settings))


class RestoreMissingCells(OverwriteCells):
    """OverwriteCells that re-inserts every deleted graded cell next to its nearest surviving neighbour."""

    def add_missing_grade_cells(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        """Insert each graded cell missing from ``nb`` after the closest earlier cell still there."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        for grade_cell in sorted(source_nb.grade_cells, key=lambda cell: order.index(cell.name)):
            present = {_grade_id(cell): i for i, cell in enumerate(nb.cells) if _grade_id(cell)}
            if grade_cell.name in present:
                continue
            self.log.warning(f"Missing grade cell {grade_cell.name} encountered, adding to notebook")
            position = order.index(grade_cell.name)
            anchor = next((present[name] for name in reversed(order[:position]) if name in present), -1)
            restored = self.missing_cell_transform(source_nb.source_cells[position], grade_cell.max_score,
                                                   is_solution=grade_cell.name in solution_ids)
            nb.cells.insert(anchor + 1, restored)
        return nb, resources
