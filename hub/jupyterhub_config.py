"""JupyterHub for a class doing the chapter 8 lab on one machine:  jupyterhub -f hub/jupyterhub_config.py

Who is who comes from two Unix groups, so that adding a student is one `useradd -G`:

  students     members of CH8_HUB_STUDENTS (default ch8-students): their own server and home,
               JupyterLab opens on the fetched lab, nbgrader's Assignments panel to fetch/submit
  instructors  members of CH8_HUB_INSTRUCTORS (default ch8-instructors): their own server, plus
               the course's formgrader at /services/<course id>/formgrader (hub group
               formgrade-<course id>, the name nbgrader looks for)
  grader       the system user CH8_HUB_GRADER (default grader-<course id>) owns the course folder
               (a checkout of this repository) and runs the formgrader as a hub service, so that
               several instructors grade in one gradebook

Everyone logs in with their system password (PAM); every server runs as its own system user, so
nbgrader's exchange tells students apart by their OS user name and file permissions keep one
student's submission and feedback from another. The hub must run as root for that (and to give
every server its cgroup).

Settings (environment variables of the hub process; the defaults suit a real deployment):

  CH8_COURSE_ID          nbgrader course id = name of the formgrader service   grokking-ch8
  CH8_EXCHANGE           nbgrader's exchange, shared by all (mode 0777)         /srv/nbgrader/exchange
  CH8_HUB_COURSE_DIR     the grader's checkout of this repository               /srv/nbgrader/<course id>
  CH8_HUB_GRADER         system user running the formgrader service             grader-<course id>
  CH8_HUB_STUDENTS       Unix group of the students                             ch8-students
  CH8_HUB_INSTRUCTORS    Unix group of the instructors                          ch8-instructors
  CH8_HUB_ADMINS         Unix group of hub admins (optional; ignored if absent) ch8-hub-admins
  MNIST_DIR              the four MNIST files, readable by all                  /srv/nbgrader/mnist
  MNIST_CACHE            prepared arrays, readable by all (see README)          /srv/nbgrader/mnist-cache
  CH8_HUB_STATE          the hub's database and cookie secret                   /srv/jupyterhub
  CH8_HUB_BIND_URL       where people reach the hub                             http://:8000
  CH8_HUB_API_PORT       the hub's internal API (loopback)                      8081
  CH8_HUB_PROXY_API_PORT configurable-http-proxy's API (loopback)               8001
  CH8_HUB_SERVICE_PORT   the formgrader service (loopback)                      9999
  CONFIGPROXY_AUTH_TOKEN shared with the proxy, which runs on its own (required)
  CH8_HUB_ROUTE_CHECK_S  seconds between the hub's checks of the proxy's routes 30
                         (a restarted proxy has its routes back within this time)

Per-student limits, on each server and everything it starts (kernels, Validate, terminals):

  CH8_HUB_MEM_LIMIT      memory (cgroup), and the address space of any one     3G
                         process (RLIMIT_AS: an oversized array is a MemoryError)
  CH8_HUB_CPU_LIMIT      cores at most (cgroup CPU cap; equal shares below it)  1
  CH8_HUB_TASKS_LIMIT    processes and threads (cgroup pids, RLIMIT_NPROC)      512

Idle culling (jupyterhub-idle-culler, a hub service):

  CH8_HUB_CULL_IDLE_S    stop a server nobody has used for this long (seconds)  3600
  CH8_HUB_CULL_EVERY_S   how often the culler looks                             300
  CH8_HUB_CULL_MAX_AGE_S stop any server this old, even one an open tab keeps   36000
                         looking busy (0: never)

The proxy (configurable-http-proxy) runs outside the hub and the hub leaves the servers running when
it stops, so that restarting the hub (an upgrade, a new instructor) interrupts nobody: the proxy keeps
routing to the servers meanwhile, and the new hub finds them in its database. Start the proxy first:

  configurable-http-proxy --ip IP --port PORT --api-ip 127.0.0.1 --api-port 8001 \
      --default-target http://127.0.0.1:8081 --error-target http://127.0.0.1:8081/hub/error

with the same CONFIGPROXY_AUTH_TOKEN in its environment (instructor/classhub.py: proxy_command).

The hub and every server run the Python environment the hub was started from (.venv of this
checkout with `python3 tasks.py setup`): it must be readable by every user.
"""
from __future__ import annotations

import grp
import os
import sys
from pathlib import Path

from instructor.hublimits import LimitedSpawner

HUB = Path(__file__).resolve().parent
ROOT = HUB.parent
# Not resolved: .venv/bin/python may be a symlink to the system Python, and the servers need the venv.
BIN = Path(sys.executable).parent

COURSE_ID = os.environ.get("CH8_COURSE_ID", "grokking-ch8")
EXCHANGE = os.environ.get("CH8_EXCHANGE", "/srv/nbgrader/exchange")
COURSE_DIR = os.environ.get("CH8_HUB_COURSE_DIR", f"/srv/nbgrader/{COURSE_ID}")
GRADER = os.environ.get("CH8_HUB_GRADER", f"grader-{COURSE_ID}")
STUDENTS = os.environ.get("CH8_HUB_STUDENTS", "ch8-students")
INSTRUCTORS = os.environ.get("CH8_HUB_INSTRUCTORS", "ch8-instructors")
ADMINS = os.environ.get("CH8_HUB_ADMINS", "ch8-hub-admins")
MNIST_DIR = os.environ.get("MNIST_DIR", "/srv/nbgrader/mnist")
MNIST_CACHE = os.environ.get("MNIST_CACHE", "/srv/nbgrader/mnist-cache")
STATE = Path(os.environ.get("CH8_HUB_STATE", "/srv/jupyterhub"))
ROUTE_CHECK_S = int(os.environ.get("CH8_HUB_ROUTE_CHECK_S", "30"))
MEM_LIMIT = os.environ.get("CH8_HUB_MEM_LIMIT", "3G")  # notebook 05 peaks at 1.6 GB; its Validate needs as much again
CPU_LIMIT = float(os.environ.get("CH8_HUB_CPU_LIMIT", "1"))  # notebooks 01-04 use no more; 05 shares it
TASKS_LIMIT = int(os.environ.get("CH8_HUB_TASKS_LIMIT", "512"))  # a server and two kernels run about 60
CULL_IDLE_S = int(os.environ.get("CH8_HUB_CULL_IDLE_S", "3600"))  # longer than a coffee break, shorter than lunch
CULL_EVERY_S = int(os.environ.get("CH8_HUB_CULL_EVERY_S", "300"))
CULL_MAX_AGE_S = int(os.environ.get("CH8_HUB_CULL_MAX_AGE_S", "36000"))  # a school day
FORMGRADERS = f"formgrade-{COURSE_ID}"  # nbgrader's name for the instructors' hub group
ENROLLED = f"nbgrader-{COURSE_ID}"  # nbgrader's name for the students' hub group


def members(group: str) -> list[str]:
    """Return the user names listed in Unix group ``group`` (none if it does not exist)."""
    try:
        return sorted(grp.getgrnam(group).gr_mem)
    except KeyError:
        return []


def config_path(role: str) -> str:
    """Return JUPYTER_CONFIG_PATH for a server of ``role``: its own settings, then the class's."""
    return os.pathsep.join(str(HUB / "jupyter" / name) for name in (role, "all"))


c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

# Every server reads this checkout (the lab guide, hub/): the answers in it must not be readable.
if (ROOT / "solutions").is_dir() and (ROOT / "solutions").stat().st_mode & 0o005:
    print(f"WARNING: every class member can read {ROOT / 'solutions'}, the answers: chmod 700 it "
          "(the grader's course folder has its own copy)", file=sys.stderr)

# --- where the hub listens and keeps its state --------------------------------------------------
c.JupyterHub.bind_url = os.environ.get("CH8_HUB_BIND_URL", "http://:8000")
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{os.environ.get('CH8_HUB_API_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('CH8_HUB_PROXY_API_PORT', '8001')}"
# The proxy runs on its own (see above) and the servers outlive the hub: a restarted hub finds them.
c.ConfigurableHTTPProxy.should_start = False
if not os.environ.get("CONFIGPROXY_AUTH_TOKEN"):
    sys.exit("hub/jupyterhub_config.py: set CONFIGPROXY_AUTH_TOKEN, the same for the hub and its proxy")
c.JupyterHub.cleanup_servers = False
c.JupyterHub.last_activity_interval = ROUTE_CHECK_S  # also puts back the routes a restarted proxy lost
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")

# --- who may log in -----------------------------------------------------------------------------
# PAM: the machine's own accounts and passwords, the simplest choice for a class on one machine.
# For a campus login or an LMS see the README ("A class on JupyterHub": OAuthenticator, LTI).
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {STUDENTS, INSTRUCTORS}
# Listed at start-up too, so that they exist in the hub (admin page, API) before their first login.
c.Authenticator.allowed_users = set(members(STUDENTS) + members(INSTRUCTORS))
if ADMINS in {g.gr_name for g in grp.getgrall()}:
    c.PAMAuthenticator.admin_groups = {ADMINS}

c.JupyterHub.load_groups = {
    FORMGRADERS: {"users": members(INSTRUCTORS)},
    ENROLLED: {"users": members(STUDENTS)},
}
# Instructors reach the course's formgrader service; students never do. The idle culler sees
# every server's activity and may stop servers, nothing more.
c.JupyterHub.load_roles = [{
    "name": FORMGRADERS,
    "description": f"Grade {COURSE_ID} in its shared formgrader",
    "groups": [FORMGRADERS],
    "scopes": [f"access:services!service={COURSE_ID}", "list:services", f"read:services!service={COURSE_ID}"],
}, {
    "name": "idle-culler",
    "description": "Stop servers nobody uses",
    "services": ["idle-culler"],
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
}]

# --- one server per person, as that person ------------------------------------------------------
SHARED_ENV = {
    "PATH": os.pathsep.join([str(BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
    "CH8_COURSE_ID": COURSE_ID,
    "CH8_EXCHANGE": EXCHANGE,
    "MNIST_DIR": MNIST_DIR,
    "MNIST_CACHE": MNIST_CACHE,
    # A "python3" kernel in a user's ~/.local must not shadow the lab's environment.
    "JUPYTER_PREFER_ENV_PATH": "1",
    # An environment whose Python needs its own library path (a relocated copy) passes it on.
    **({"LD_LIBRARY_PATH": os.environ["LD_LIBRARY_PATH"]} if os.environ.get("LD_LIBRARY_PATH") else {}),
}
# Each server runs as its user's system account, in a cgroup of its own (instructor/hublimits.py).
c.JupyterHub.spawner_class = LimitedSpawner
c.Spawner.mem_limit = MEM_LIMIT
c.Spawner.cpu_limit = CPU_LIMIT
c.LimitedSpawner.tasks_limit = TASKS_LIMIT
c.LimitedSpawner.cgroup_parent = f"jupyterhub-{COURSE_ID}"
c.Spawner.cmd = [str(BIN / "python"), str(HUB / "singleuser.py")]
c.Spawner.environment = {
    **SHARED_ENV,
    "CH8_ROLE": "student",
    "CH8_LABGUIDE": str(ROOT / "labguide"),
    "JUPYTER_CONFIG_PATH": config_path("student"),
}
# Instructors' own servers: nbgrader's course list and assignment list, no formgrader of their own.
c.Spawner.group_overrides = {
    "01-instructors": {
        "groups": [FORMGRADERS],
        "spawner_override": {"environment": {"CH8_ROLE": "instructor", "JUPYTER_CONFIG_PATH": config_path("instructor")}},
    },
}
# The server's own API token may use what its user may: for instructors, finding and opening the
# formgrader service (nbgrader's course list asks the hub); students lack those scopes and so
# their servers' tokens lack them too.
c.Spawner.server_token_scopes = [
    "users:activity!user", "access:servers!server",
    "list:services", f"read:services!service={COURSE_ID}", f"access:services!service={COURSE_ID}",
]
# A class logging in at once starts its servers together: each costs about 4 CPU seconds (JupyterLab
# and nbgrader's extensions loaded), so 20 at once on a busy 2-core machine answer after a minute or more.
c.Spawner.http_timeout = 300
c.Spawner.start_timeout = 90

# --- the course's formgrader, shared by the instructors -----------------------------------------
c.JupyterHub.services = [{
    "name": COURSE_ID,
    "url": f"http://127.0.0.1:{os.environ.get('CH8_HUB_SERVICE_PORT', '9999')}",
    "command": [str(BIN / "jupyterhub-singleuser")],
    "user": GRADER,
    "cwd": COURSE_DIR,
    "oauth_no_confirm": True,
    "environment": {
        **SHARED_ENV,
        "JUPYTER_CONFIG_PATH": config_path("grader"),
        # JupyterHub >= 4.1 forbids the formgrader's iframe inside JupyterLab: open it as a page.
        "JUPYTERHUB_DEFAULT_URL": "/formgrader",
    },
}, {
    # Stops forgotten servers (their work is saved in their homes) and frees their memory. It needs
    # no privilege of its own: the grader account runs it (and removing the class stops it).
    "name": "idle-culler",
    "user": GRADER,
    "cwd": "/",  # it reads and writes no file
    "command": [str(BIN / "python"), "-m", "jupyterhub_idle_culler", f"--timeout={CULL_IDLE_S}",
                f"--cull-every={CULL_EVERY_S}", f"--max-age={CULL_MAX_AGE_S}"],
}]
