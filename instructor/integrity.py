"""Integrity scan: flag answer code that touches the grading machinery, for a person to read.

    python -m instructor.integrity [--course DIR]      (python3 tasks.py integrity)

Reads every cell a student could have written in every submission (answer cells and cells they
added; locked cells are replaced by the originals before grading anyway) and flags code that
rebinds the checks' helpers, NumPy or builtins, reaches into ``sys.modules``, IPython's hooks or
the calling frames (where hidden checks run), ends or signals the process, or runs code built from
strings, reads files or starts programs. It also lists what the grading records say happened
while grading (instructor/verdicts.py): a check whose channel to the kernel broke, or that the
kernel never served, is a sign of code that tampers with its own process. The result is a table on
screen and the course's integrity CSV (course/integrity.csv: student, notebook, cell, line, why,
code). A flag is a reason to look, never a verdict: it changes no grade (grades are decided in the
grader, where no answer cell can reach: instructor/checker.py).
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import nbformat

from instructor.settings import CourseSettings, course_settings
from instructor.summary import write_csv
from instructor.verdicts import read_records
_PROCESS = {"os._exit": "ends the Python process (os._exit)", "os.kill": "sends a signal to a process (os.kill)",
            "os.abort": "aborts the Python process", "os.system": "runs a shell command",
            "os.fork": "forks the Python process", "sys.exit": "ends the program (sys.exit)",
            "signal.signal": "changes how the process reacts to signals (the grader's interrupt included)",
            "signal.alarm": "sets a signal timer", "subprocess": "starts other programs"}
_SYS = {"modules": "touches sys.modules (the import system the checks rely on)",
        "settrace": "installs a tracer that sees every line the checks run",
        "setprofile": "installs a profiler that sees every call the checks make",
        "excepthook": "changes how errors are reported", "displayhook": "changes how values are shown "
        "(nbgrader reads a shown value as partial credit)", "_getframe": "looks at the calling code's frames",
        "audit": "touches the audit hooks", "addaudithook": "touches the audit hooks",
        "setrecursionlimit": "changes the recursion limit"}
_INTROSPECTION = {"__subclasses__": "searches all classes (looks for the grading machinery)",
                  "__globals__": "reaches a function's global names", "__closure__": "reaches a function's hidden state",
                  "__code__": "reads or replaces a function's code", "f_back": "walks up to the calling code's frames",
                  "f_globals": "reads the calling code's variables", "f_locals": "reads the calling code's variables",
                  "_render_traceback_": "changes how check failures are displayed",
                  "showtraceback": "changes how errors are displayed", "set_custom_exc": "intercepts errors",
                  "run_cell": "runs or replaces IPython's cell runner", "events": "hooks into IPython's events",
                  "display_pub": "replaces IPython's output publisher", "builtin_trap": "touches IPython's builtins"}
_MODULES = {"ctypes": "loads ctypes (raw memory access, can crash the process)",
            "gc": "uses the garbage collector's view of all objects",
            "inspect": "inspects live code and frames", "importlib": "imports or reloads modules by name",
            "traceback": "prints or reads the calling code (frames of the checks)",
            "signal": "changes signal handling", "subprocess": "starts other programs",
            "builtins": "imports builtins (Python's own functions, which the checks use too)"}

_HARMLESS_MAGICS = {"time", "timeit", "matplotlib", "precision", "who", "whos", "pdb", "debug", "history",
                    "pprint", "page", "pinfo", "pinfo2", "psearch", "lsmagic", "magic", "quickref", "prun"}


@dataclass(frozen=True)
class Flag:
    """One place in a submission that a person should read."""

    student: str
    notebook: str
    cell: str
    line: int
    why: str
    code: str


class _Scanner(ast.NodeVisitor):
    """Walk one cell's code and collect (line, why) for everything that touches grading."""

    def __init__(self, given: set[str]):
        self.given = given  # names the lab's own cells define (relu, evaluate, images, ...)
        self.found: list[tuple[int, str]] = []
        self.roots = {"np": "numpy", "numpy": "numpy", "helpers": "helpers", "builtins": "builtins",
                      "__builtins__": "builtins", "sys": "sys", "os": "os"}
        self.from_helpers: set[str] = set()
        self.depth = 0  # > 0 inside a function: its names are its own
        self.declared_global: set[str] = set()

    def flag(self, node: ast.AST, why: str) -> None:
        """Record ``why`` at ``node``'s line."""
        self.found.append((getattr(node, "lineno", 0), why))

    def dotted(self, node: ast.AST) -> str | None:
        """Return 'numpy.isclose' for ``np.isclose`` (aliases resolved), or None for other expressions."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython":
            parts.append("get_ipython()")
        elif isinstance(node, ast.Name):
            parts.append(self.roots.get(node.id, node.id))
        else:
            return None
        return ".".join(reversed(parts))

    # imports ----------------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            if alias.asname:
                self.roots[alias.asname] = alias.name
            if top in _MODULES:
                self.flag(node, f"imports {alias.name}: {_MODULES[top]}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        top = (node.module or "").split(".")[0]
        for alias in node.names:
            name = alias.asname or alias.name
            self.roots[name] = f"{node.module}.{alias.name}"
            if top == "helpers":
                self.from_helpers.add(name)
            if top in _MODULES or alias.name in ("_exit", "kill", "modules", "settrace", "_getframe"):
                self.flag(node, f"imports {alias.name} from {node.module}: {_MODULES.get(top, 'process or import machinery')}")

    # rebinding --------------------------------------------------------------------------------
    def _target(self, target: ast.AST, node: ast.AST) -> None:
        """Flag an assignment or deletion target that rebinds something the checks use."""
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, node)
            return
        if isinstance(target, ast.Name):
            if self.depth and target.id not in self.declared_global:
                return  # a local variable of the student's function
            if target.id in self.from_helpers:
                self.flag(node, f"rebinds {target.id}, which the checks import from helpers")
            elif target.id in self.given:
                self.flag(node, f"redefines {target.id}, which the lab's own cells define and the checks use")
            elif target.id in ("np", "numpy", "helpers", "__builtins__"):
                self.flag(node, f"rebinds the name {target.id}")
            return
        if isinstance(target, ast.Subscript):
            base = self.dotted(target.value)
            if base and base.split(".")[0] in ("builtins", "sys", "helpers", "numpy"):
                self.flag(node, f"changes {base}[...] (the checks' machinery)")
            return
        if isinstance(target, ast.Attribute):
            name = self.dotted(target)
            if name and name.split(".")[0] in ("helpers", "numpy", "builtins", "sys", "os", "get_ipython()"):
                self.flag(node, f"rebinds {name}")
            elif name and (name.split(".")[0] in self.from_helpers or target.attr.startswith("__")):
                self.flag(node, f"changes {name}")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target, node)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if not self.depth and node.name in self.given:
            self.flag(node, f"redefines {node.name}(), which the lab's own cells define and the checks use")
        if not self.depth and node.name in self.from_helpers:
            self.flag(node, f"redefines {node.name}(), which the checks import from helpers")
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_Global(self, node: ast.Global) -> None:
        self.declared_global.update(node.names)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if not self.depth and node.name in self.given | self.from_helpers:
            self.flag(node, f"redefines {node.name} as a class")
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    # calls and attributes -----------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func) or ""
        last = name.split(".")[-1]
        if name in ("exec", "eval", "compile", "builtins.exec", "builtins.eval"):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                self._inner(node, node.args[0].value)
            else:
                self.flag(node, f"{last}() runs code built at run time, which this scan cannot read")
        elif name in ("setattr", "delattr", "builtins.setattr", "builtins.delattr"):
            target = self.dotted(node.args[0]) if node.args else None
            self.flag(node, f"{last}() changes an attribute by name" + (f" on {target}" if target else ""))
        elif name in ("__import__", "builtins.__import__") or name.startswith("importlib."):
            self.flag(node, "imports a module by name at run time")
        elif name in ("exit", "quit"):
            self.flag(node, f"{name}() ends the notebook's Python process: the checks after it cannot run")
        elif name in ("get_ipython().run_line_magic", "get_ipython().run_cell_magic") and node.args \
                and isinstance(node.args[0], ast.Constant):
            magic = node.args[0].value
            if magic not in _HARMLESS_MAGICS:
                self.flag(node, f"uses the %{magic} magic, which reaches beyond the notebook's own code")
        elif name == "get_ipython().system" or name == "get_ipython().getoutput":
            pass  # `!command` lines are flagged as shell commands already
        elif name == "get_ipython()" or name.startswith("get_ipython()."):
            self.flag(node, "uses get_ipython(): IPython's machinery (hooks, error display, shell commands)")
        elif name.startswith(("gc.get_", "inspect.")) or name in ("gc.get_objects", "gc.get_referrers"):
            self.flag(node, f"{name}() looks at live objects or frames, where hidden checks run")
        elif name.startswith(("traceback.print_stack", "traceback.extract_stack", "traceback.format_stack")):
            self.flag(node, f"{name}() reads the calling code (the checks' frames)")
        elif name == "open":
            self.flag(node, "open() reads or writes a file: the lab needs none")
        else:
            for key, why in _PROCESS.items():
                if name == key or name.startswith(key + "."):
                    self.flag(node, why)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = self.dotted(node) or ""
        if name.startswith("sys.") and name.split(".")[1] in _SYS:
            self.flag(node, _SYS[name.split(".")[1]])
        elif node.attr in _INTROSPECTION:
            self.flag(node, _INTROSPECTION[node.attr])
        self.generic_visit(node)

    def _inner(self, node: ast.AST, code: str) -> None:
        """Scan a literal string passed to exec/eval as code of its own, at the call's line."""
        inner = _Scanner(self.given)
        inner.roots, inner.from_helpers = dict(self.roots), set(self.from_helpers)
        try:
            inner.visit(ast.parse(code))
        except SyntaxError:
            return
        for _, why in inner.found:
            self.flag(node, f"inside exec/eval: {why}")


def scan_source(source: str, given: set[str] = frozenset()) -> list[tuple[int, str]]:
    """Return (line, why) for each thing in a cell's code (IPython syntax allowed) that touches grading."""
    from IPython.core.inputtransformer2 import TransformerManager

    found = []
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith("!") or stripped.startswith("%%bash") or stripped.startswith("%system"):
            found.append((number, "runs a shell command"))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        try:  # IPython syntax (magics, !shell): translate it to Python first (leading blank lines go)
            tree = ast.parse("\n" * (len(source) - len(source.lstrip("\n"))) + TransformerManager().transform_cell(source))
        except (SyntaxError, ValueError):
            return found  # a cell that is not Python fails its checks on its own; nothing to flag
    scanner = _Scanner(set(given))
    scanner.visit(tree)
    return sorted(set(found + scanner.found))


def given_names(release: Path) -> set[str]:
    """Return the names that a released notebook's locked code cells define at top level."""
    names: set[str] = set()
    for cell in nbformat.read(release, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("locked") or meta.get("grade"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name):
                            names.add(leaf.id)
    return names


def scan_notebook(path: Path, student: str, given: set[str]) -> list[Flag]:
    """Return the flags for the cells a student could write in one submitted notebook."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 (an unreadable file is reported by autograde, not here)
        return []
    flags = []
    for index, cell in enumerate(nb.cells, 1):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or (meta.get("locked") and not meta.get("solution")):
            continue  # locked cells are put back from the source before grading
        label = meta.get("grade_id") or f"cell {index} (added by the student)"
        lines = cell.source.splitlines()
        for line, why in scan_source(cell.source, given):
            code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            flags.append(Flag(student, path.stem, label, line, why, code[:120]))
    return flags


_WHILE_GRADING = {
    "channel": "while grading: the check lost its channel to the kernel (code that ends or rewires its own "
               "process, threads, IPython hooks?)",
    "no answer": "while grading: the kernel never served the check (something in the notebook took over its "
                 "Python process?)",
}


def runtime_flags(settings: CourseSettings, student: str) -> list[Flag]:
    """Return what the grading records of ``student`` say happened while grading that a person should read."""
    flags = []
    for record in read_records(settings.status_dir, student):
        for verdict in record.verdicts:
            if verdict.why in _WHILE_GRADING:
                flags.append(Flag(student, record.notebook, verdict.check, 0, _WHILE_GRADING[verdict.why],
                                  verdict.message[:120]))
    return flags


def scan_student(settings: CourseSettings, student: str) -> list[Flag]:
    """Return every flag for one student's submission; keep them in the student's grading folder too."""
    given = {path.stem: given_names(path) for path in (settings.release / settings.assignment).glob("*.ipynb")}
    flags: list[Flag] = []
    for path in sorted(settings.submission(student).glob("*.ipynb")):
        flags += scan_notebook(path, student, given.get(path.stem, set()))
    flags += runtime_flags(settings, student)
    keep = settings.status_dir / student / "integrity.json"
    keep.parent.mkdir(parents=True, exist_ok=True)
    keep.write_text(json.dumps([asdict(flag) for flag in flags]))
    return flags


def scan_course(settings: CourseSettings) -> list[Flag]:
    """Return every flag for every submission of the course, plus what the grading records say."""
    flags: list[Flag] = []
    for folder in sorted(settings.submitted.glob(f"*/{settings.assignment}")):
        flags += scan_student(settings, folder.parent.name)
    return flags


def kept_flags(settings: CourseSettings) -> list[Flag]:
    """Return the flags kept by the last scan of each student (without scanning again)."""
    flags = []
    for path in sorted(settings.status_dir.glob("*/integrity.json")):
        try:
            flags += [Flag(**row) for row in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            continue
    return flags


def write_table(settings: CourseSettings, flags: list[Flag]) -> None:
    """Write the flags to the course's integrity CSV with a header row."""
    write_csv(settings.integrity, [f.name for f in fields(Flag)], [
        {key: str(value) for key, value in asdict(flag).items()} for flag in flags])


def table(flags: list[Flag]) -> str:
    """Return the flags as a plain-text table for the terminal."""
    if not flags:
        return "Integrity scan: nothing to look at."
    rows = [("student", "notebook", "cell", "line", "why")] + [
        (f.student, f.notebook, f.cell, str(f.line or ""), f.why) for f in flags]
    # Columns as wide as their longest value: a shortened student id could name the wrong student.
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in rows]
    students = len({f.student for f in flags})
    return (f"Integrity scan: {len(flags)} place(s) to look at in {students} submission(s) "
            "(flags for a person to read; no grade was changed):\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """Scan the course's submissions, print the table and write the integrity CSV."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="the course folder (default: here)")
    args = parser.parse_args(argv)
    settings = course_settings(args.course.resolve())
    flags = scan_course(settings)
    write_table(settings, flags)
    print(table(flags))
    print(f"Written: {settings.integrity}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
