"""The container recipe (environment.yml + postBuild + start, for repo2docker: Binder and Zero to
JupyterHub) and the Zero to JupyterHub values sketch, checked without a container daemon.

postBuild runs for real in a fresh virtual environment. The packages environment.yml lists are the
same as requirements.txt's (tests/test_environment.py) and already in .venv, so the fresh
environment borrows them through a .pth file instead of downloading them again: what is tested is
postBuild's own work (the helpers installed as a regular package, the lab guide, the hub's files
and MNIST in the image, the JupyterLab settings, nbgrader's extensions registered).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import yaml

from instructor.classhub import COURSE_ID

ROOT = Path(__file__).resolve().parents[1]
IMAGE_PREFIX = Path("/srv/conda/envs/notebook")  # where repo2docker puts environment.yml's environment
SHARE = IMAGE_PREFIX / "share" / "grokking-ch8"


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """Return the prefix of a fresh environment in which postBuild has run."""
    mnist = os.environ.get("MNIST_DIR", "")
    if not Path(mnist, "train-images-idx3-ubyte.gz").is_file():
        message = "set MNIST_DIR to a folder with the four MNIST files (CI: ../shared/mnist): postBuild copies them"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    prefix = tmp_path_factory.mktemp("image") / "env"
    venv.create(prefix, with_pip=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    borrowed = Path(sysconfig.get_path("purelib"))
    (prefix / "lib" / version / "site-packages" / "_borrowed.pth").write_text(
        f"import site; site.addsitedir({str(borrowed)!r})\n")
    # nbgrader registers its extensions in the environment's etc/ and share/: borrowed the same way.
    (prefix / "etc").symlink_to(Path(sys.prefix) / "etc", target_is_directory=True)
    (prefix / "share" / "jupyter").mkdir(parents=True)
    (prefix / "share" / "jupyter" / "labextensions").symlink_to(Path(sys.prefix) / "share" / "jupyter" / "labextensions")
    env = {**os.environ, "PATH": f"{prefix / 'bin'}{os.pathsep}{os.environ['PATH']}", "CONDA_PREFIX": str(prefix),
           "MNIST_CACHE": str(prefix / "unused-cache")}
    env.pop("PYTHONPATH", None)
    # repo2docker runs postBuild in its own copy of the repository; so does this test (pip builds in it).
    copy = prefix.parent / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "course", "build", "*.egg-info",
                                                               "__pycache__", ".pytest_cache"))
    done = subprocess.run(["bash", str(copy / "postBuild")], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"postBuild failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return prefix


def in_image(prefix: Path, code: str) -> str:
    """Run Python ``code`` with the image's environment, away from this checkout; return what it printed."""
    done = subprocess.run([str(prefix / "bin" / "python"), "-c", code], cwd=prefix, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_helpers_are_installed_as_a_regular_package(image):
    """On the hub each user's volume hides /home/jovyan: the helpers must not point into this checkout."""
    where = in_image(image, "import helpers, instructor; print(helpers.__file__); print(instructor.__file__)")
    for path in where.splitlines():
        assert Path(path).is_relative_to(image), where


def test_the_servers_files_are_in_the_image_outside_home(image):
    """The lab guide, hub/singleuser.py with each role's settings, and MNIST parsed once."""
    share = image / "share" / "grokking-ch8"
    assert (share / "labguide" / "README.md").is_file()
    assert (share / "hub" / "singleuser.py").is_file()
    for role in ("student", "instructor", "grader", "all"):
        assert (share / "hub" / "jupyter" / role).is_dir()
    assert len(list((share / "mnist").glob("*-ubyte.gz"))) == 4
    assert list((share / "mnist-cache").glob("mnist-arrays-*.npz"))
    mode = (share / "mnist-cache").stat().st_mode
    assert mode & 0o005 == 0o005  # every user reads the prepared arrays


def test_start_points_mnist_at_the_images_copy(image):
    """The start script (repo2docker runs it at container start) makes the image's MNIST the lab's."""
    share = image / "share" / "grokking-ch8"
    code = "import os; print(os.environ['MNIST_DIR']); print(os.environ['MNIST_CACHE'])"
    done = subprocess.run(["bash", str(ROOT / "start"), str(image / "bin" / "python"), "-c", code],
                          env={k: v for k, v in {**os.environ, "PATH": f"{image / 'bin'}{os.pathsep}{os.environ['PATH']}"}.items()
                               if k not in ("MNIST_DIR", "MNIST_CACHE")},
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == [str(share / "mnist"), str(share / "mnist-cache")], done.stderr


def test_lab_settings_are_installed_into_the_image(image):
    """lab_settings/overrides.json lands where JupyterLab reads an environment's settings (as tasks.py setup puts it)."""
    shipped = ROOT / "lab_settings" / "overrides.json"
    installed = image / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "grokking-ch8.json"
    assert shipped.is_file() and installed.read_text() == shipped.read_text()


@pytest.fixture(scope="module")
def values() -> dict:
    """Return hub/z2jh-values.yaml, parsed."""
    return yaml.safe_load((ROOT / "hub" / "z2jh-values.yaml").read_text())


def test_values_mount_the_exchange_where_every_server_looks(values):
    """The exchange volume is mounted at the CH8_EXCHANGE path every server's nbgrader reads."""
    single = values["singleuser"]
    mounts = {m["name"]: m["mountPath"] for m in single["storage"]["extraVolumeMounts"]}
    volumes = {v["name"] for v in single["storage"]["extraVolumes"]}
    exchange = single["extraEnv"]["CH8_EXCHANGE"]
    assert [name for name, path in mounts.items() if path == exchange] == ["nbgrader-exchange"]
    assert "nbgrader-exchange" in volumes
    assert single["extraEnv"]["CH8_COURSE_ID"] == COURSE_ID


def test_values_point_at_files_the_image_has(values):
    """The start command, the lab guide and every Jupyter settings folder named exist in the image's layout."""
    single = values["singleuser"]
    overrides = values["hub"]["config"]["KubeSpawner"]["group_overrides"]["01-instructors"]
    paths = [Path(single["cmd"][1]), Path(single["extraEnv"]["CH8_LABGUIDE"])]
    for config_path in (single["extraEnv"]["JUPYTER_CONFIG_PATH"],
                        overrides["spawner_override"]["environment"]["JUPYTER_CONFIG_PATH"]):
        paths += [Path(p) for p in config_path.split(":")]
    for path in paths:
        assert path.is_relative_to(SHARE), path
        assert (ROOT / path.relative_to(SHARE)).exists(), f"{path} has no source in this repository"


def test_values_give_instructors_the_course_and_the_formgrader(values):
    """Members of formgrade-grokking-ch8 get the course volume, open there, with the grader's settings."""
    override = values["hub"]["config"]["KubeSpawner"]["group_overrides"]["01-instructors"]
    assert override["groups"] == [f"formgrade-{COURSE_ID}"]
    spawner = override["spawner_override"]
    assert spawner["environment"]["CH8_ROLE"] == "instructor"
    assert "/hub/jupyter/grader:" in spawner["environment"]["JUPYTER_CONFIG_PATH"]
    assert [m["mountPath"] for m in spawner["volume_mounts"]] == [spawner["notebook_dir"]]


def test_notebook_05s_training_loops_are_compiled_into_the_image(image):
    """postBuild compiled them beside the installed helpers: no student's first run pays for it."""
    folder = Path(in_image(image, "import helpers.many_seeds as m, pathlib; print(pathlib.Path(m.__file__).parent)"))
    assert folder.is_relative_to(image)
    cached = sorted(p.name for p in (folder / "__pycache__").glob("many_seeds.*.nbi"))
    assert [name.split("-")[0] for name in cached] == ["many_seeds._batch_step", "many_seeds._steps"], cached
