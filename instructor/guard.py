"""The grading guard: code the grader sends into each grading kernel, never imported by students.

A check earns its points when it runs to the end without raising. A student cell could try to
make a failing check pass by rebinding what the checks call: ``helpers.check = lambda c, m: None``,
``np.isclose = lambda *a, **k: True``, ``builtins.all = ...``, or a method of ``CheckFailed``.

Before the first cell, ``BOOTSTRAP`` records every name of the modules the checks rely on (the
``helpers`` package, NumPy and all its submodules, ``builtins``) and the attributes of the helpers'
own classes. Before each graded check, ``RESTORE`` puts back every name that was rebound since,
removes names added to ``helpers`` modules (they would shadow the lazily loaded ones), and reports
what it had to restore, so that the instructor sees it (course/integrity.csv).

The record lives in a class created by ``BOOTSTRAP`` and found again through ``object``'s list of
subclasses, which no assignment to a module attribute can reach. Code that goes looking for it
(``__subclasses__``, ``gc``, frames) is exactly what the integrity scan flags for a person to read.
"""
from __future__ import annotations

GUARD_CLASS = "_Ch8GradingGuard"

BOOTSTRAP = '''
def _ch8_install_guard():
    import builtins, importlib, pkgutil, sys
    import numpy, numpy.linalg, numpy.random
    import helpers
    for info in pkgutil.iter_modules(helpers.__path__):
        importlib.import_module("helpers." + info.name)
    names = [name for name in sys.modules
             if name in ("numpy", "helpers") or name.startswith(("numpy.", "helpers."))]
    modules = [(name, sys.modules[name], dict(sys.modules[name].__dict__)) for name in names
               if sys.modules[name] is not None]
    classes = [(module_name + "." + value.__name__, value, dict(value.__dict__))
               for module_name, module, saved in modules if module_name.startswith("helpers")
               for value in saved.values()
               if isinstance(value, type) and value.__module__ == module_name]
    # IPython and ipykernel swap some builtins in and out around each cell (exit, quit,
    # get_ipython, input for the front end's prompt); RESTORE runs between cells, so those come
    # and go legitimately and are left alone.
    trap = set(get_ipython().builtin_trap.auto_builtins) | {"exit", "quit", "get_ipython", "input",
                                                             "raw_input", "display"}
    builtins_dict = builtins.__dict__
    builtins_saved = {key: value for key, value in builtins_dict.items() if key not in trap}

    def restore():
        # builtins first, with dict methods only: every builtin name may have been rebound
        changed = []
        for key, value in builtins_saved.items():
            if builtins_dict.get(key, restore) is not value:
                builtins_dict[key] = value
                changed.append("builtins." + key)
        for name, module, saved in modules:
            current = module.__dict__
            for key, value in saved.items():
                if current.get(key, restore) is not value:
                    current[key] = value
                    changed.append(name + "." + key)
            if name.startswith("helpers"):
                for key in [key for key in current if key not in saved]:
                    if not isinstance(current[key], type(builtins)):  # a submodule import is fine
                        del current[key]
                        changed.append(name + "." + key)
        for name, cls, saved in classes:
            for key in [key for key in cls.__dict__ if key not in saved]:
                delattr(cls, key)
                changed.append(name + "." + key)
            for key, value in saved.items():
                if key not in ("__dict__", "__weakref__") and cls.__dict__.get(key, restore) is not value:
                    setattr(cls, key, value)
                    changed.append(name + "." + key)
        return changed

    guard = type("GUARD_CLASS", (), {"restore": staticmethod(restore)})
    # Something must hold the class, or it is collected and vanishes from the subclass list; a
    # name in the notebook could be deleted, an audit hook cannot be removed (by design).
    sys.addaudithook(lambda event, args, guard=guard: None)


_ch8_install_guard()
del _ch8_install_guard
'''.replace("GUARD_CLASS", GUARD_CLASS)
"""Sent once, silently, before the notebook's first cell; leaves no name in the notebook."""

RESTORE = (f"[c for c in ().__class__.__mro__[1].__subclasses__() if c.__name__ == '{GUARD_CLASS}']"
           "[0].restore()")
"""Evaluated (as a user expression) before each graded check; its value lists what was restored."""
