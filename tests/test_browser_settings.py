"""The JupyterLab settings shipped with the lab: exactly two, valid for the installed JupyterLab, installed.

What they do in a browser (a guide page opens rendered, no news pop-up) is tested in test_browser.py.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "lab_settings" / "overrides.json"
EXPECTED = {
    # Double-clicking a .md file (the lab guide) opens it rendered, not as source in the text editor.
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}},
    # No "Would you like to get notified about official Jupyter news?" pop-up over the notebook
    # ("false" also switches off the update check, which needs "true").
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
}


def _tasks():
    """Return tasks.py loaded as a module (it is a script at the top of the checkout, not a package)."""
    spec = importlib.util.spec_from_file_location("lab_tasks", ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _schema(plugin_id: str) -> dict:
    """Return the installed JupyterLab's settings schema of ``plugin_id``."""
    from jupyterlab.commands import get_app_dir

    package, plugin = plugin_id.split(":")
    return json.loads((Path(get_app_dir()) / "schemas" / package / f"{plugin}.json").read_text())


def test_the_lab_ships_exactly_two_settings():
    """Markdown opens in the preview and the news pop-up is off; nothing else is changed behind the user's back."""
    assert json.loads(SHIPPED.read_text()) == EXPECTED


def test_the_settings_exist_in_the_installed_jupyterlab():
    """Each setting id and value is one the installed JupyterLab knows (a renamed setting would be ignored silently)."""
    viewers = _schema("@jupyterlab/docmanager-extension:plugin")["properties"]["defaultViewers"]
    assert viewers["type"] == "object" and viewers["additionalProperties"] == {"type": "string"}
    news = _schema("@jupyterlab/apputils-extension:notification")["properties"]["fetchNews"]
    assert {"const": "false", "title": "Never"} in news["oneOf"]


def test_the_environment_running_the_tests_has_them_installed():
    """tasks.py setup put the lab's copy where this environment's JupyterLab reads settings overrides."""
    from jupyterlab.commands import get_app_dir

    installed = _tasks().installed_lab_settings(Path(sys.prefix))
    assert installed.parent == Path(get_app_dir()) / "settings" / "overrides.d"
    assert installed.is_file(), f"{installed} is missing: run python3 tasks.py setup"
    assert installed.read_bytes() == SHIPPED.read_bytes()


def test_tasks_settings_installs_into_another_environment(tmp_path):
    """`python tasks.py settings PREFIX` (conda, containers) writes the same file there, and again after a change."""
    tasks = _tasks()
    assert tasks.settings(str(tmp_path)) == 0
    target = tasks.installed_lab_settings(tmp_path)
    assert target.read_bytes() == SHIPPED.read_bytes()
    target.write_text("{}")
    tasks.settings(str(tmp_path))
    assert target.read_bytes() == SHIPPED.read_bytes()
