"""The class hub's configuration as JupyterHub loads it: limits and culling on, a hub that can restart
without taking the servers down, and the Zero to JupyterHub sketch with the same limits.

Needs no root and starts nothing: tests/test_hub.py runs this configuration for real.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from traitlets.config.loader import PyFileConfigLoader

from instructor.classhub import HUB_CONFIG, HUB_CGROUP
from instructor.hublimits import LimitedSpawner

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config():
    """Return hub/jupyterhub_config.py as JupyterHub loads it, with its default settings."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONFIGPROXY_AUTH_TOKEN", "not-a-secret")
        for name in ("CH8_HUB_MEM_LIMIT", "CH8_HUB_CPU_LIMIT", "CH8_HUB_TASKS_LIMIT", "CH8_HUB_CULL_IDLE_S",
                     "CH8_HUB_CULL_EVERY_S", "CH8_HUB_CULL_MAX_AGE_S", "CH8_HUB_ROUTE_CHECK_S"):
            patch.delenv(name, raising=False)
        return PyFileConfigLoader(HUB_CONFIG.name, path=str(HUB_CONFIG.parent)).load_config()


def culler_options(config) -> dict[str, int]:
    """Return the idle culler service's options ({"timeout": seconds, ...}) from its command line."""
    (service,) = [s for s in config.JupyterHub.services if s["name"] == "idle-culler"]
    return {arg[2:].split("=")[0]: int(arg.split("=")[1]) for arg in service["command"] if arg.startswith("--")}


def test_every_server_gets_the_limits(config):
    """The limited spawner, 3 GiB, one core, 512 processes, in the cgroup folder the class tools clean up."""
    assert config.JupyterHub.spawner_class is LimitedSpawner
    assert (config.Spawner.mem_limit, config.Spawner.cpu_limit) == ("3G", 1.0)
    assert config.LimitedSpawner.tasks_limit == 512
    assert config.LimitedSpawner.cgroup_parent == HUB_CGROUP


def test_the_idle_culler_runs_as_a_service_with_just_enough_rights(config):
    """An hour idle, looked at every 5 minutes, any server stopped after 10 hours; it may only stop servers."""
    assert culler_options(config) == {"timeout": 3600, "cull-every": 300, "max-age": 36000}
    (role,) = [r for r in config.JupyterHub.load_roles if r["name"] == "idle-culler"]
    assert role["services"] == ["idle-culler"]
    assert sorted(role["scopes"]) == ["delete:servers", "list:users", "read:servers", "read:users:activity"]


def test_a_hub_restart_leaves_servers_and_proxy_running(config):
    """The proxy runs on its own and the hub leaves the servers running; routes are checked every 30 s."""
    assert config.ConfigurableHTTPProxy.should_start is False
    assert config.JupyterHub.cleanup_servers is False
    assert config.JupyterHub.last_activity_interval == 30


def test_zero_to_jupyterhub_sketch_has_the_same_limits_and_culling(config):
    """hub/z2jh-values.yaml limits each student and culls idle servers as the one-machine hub does."""
    values = yaml.safe_load((ROOT / "hub" / "z2jh-values.yaml").read_text())
    single = values["singleuser"]
    assert (single["memory"]["limit"], float(single["cpu"]["limit"])) == (config.Spawner.mem_limit,
                                                                            config.Spawner.cpu_limit)
    options = culler_options(config)
    assert values["cull"]["enabled"] is True
    assert (values["cull"]["timeout"], values["cull"]["every"], values["cull"]["maxAge"]) == (
        options["timeout"], options["cull-every"], options["max-age"])
