"""A class on a real JupyterHub: release, fetch, validate, submit, collect, autograde and feedback; then a class day's faults.

The hub is hub/jupyterhub_config.py itself, started with `jupyterhub` and configurable-http-proxy
(run on its own, as the configuration wants) on 127.0.0.1, with system users made for this run
(an instructor, a grader account that runs the course's formgrader service, and two students) who
log in with their passwords (PAM). Everything goes through the hub's REST API, the students' own
servers (nbgrader's Assignments endpoints, as the JupyterLab extension calls them; kernels over
their websockets) and the formgrader's HTTP API in the course service, so nbgrader's exchange sees
distinct OS users and file permissions are the real ones.

After the round trip, the same hub lives through a class day's faults: a runaway kernel against
the per-student limits (memory, cores, processes), a student's server killed, the proxy killed
and started again, the hub restarted mid-session, and the idle culler.

Needs root (it creates the users and removes them afterwards) and configurable-http-proxy
(`npm install -g configurable-http-proxy`); elsewhere the tests are skipped with that message,
and with CI=true they fail instead. The whole class takes two to three minutes.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from instructor import hubclient, hublimits
from instructor.classhub import (COURSE_ID, Class, create_class, free_port, hub_environment, missing_for_the_lab,
                                 remove_class, remove_stale_classes, server_pid, shared_mnist, start_hub, start_proxy,
                                 stop_hub, stop_proxy)
from instructor.course import ASSIGNMENT, ROOT, max_points, page_text, solution_answers, total_points
from instructor.written import grade_in_formgrader, questions
from mutants import MUTANTS, NB1

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "ch8t"  # every account and group of this test starts with it
MISTAKE = MUTANTS["summed_error"]  # Ben's mistake: the summed error instead of the mean (-2 points)
HUB_START_S, SPAWN_S, REQUEST_S, GRADE_S = 90, 120, 60, 300  # every wait is bounded
ROUTE_CHECK_S = 5  # how often this hub puts back the routes a restarted proxy lost


def as_user(klass: Class, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the lab's Python with ``args`` as system user ``name`` (no extra groups) in their home."""
    entry = pwd.getpwnam(name)
    return subprocess.run([str(klass.bin / "python"), *args], user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                          capture_output=True, text=True, timeout=REQUEST_S, cwd=klass.home(name),
                          env={"HOME": str(klass.home(name)), "USER": name, "PATH": f"{klass.bin}:/usr/bin:/bin",
                               **klass.env, **(env or {})})


@dataclass
class Hub(hubclient.Hub):
    """A running class hub: its class, who is who, and the processes of the hub and its proxy."""

    klass: Class | None = None
    users: dict[str, str] = field(default_factory=dict)  # role -> user name
    env: dict[str, str] = field(default_factory=dict)  # the hub's and the proxy's environment
    hub_process: subprocess.Popen | None = None
    proxy_process: subprocess.Popen | None = None

    def answers(self) -> bool:
        """Return whether the hub answers on its public address (fail at once if it exited)."""
        if self.hub_process.poll() is not None:
            raise AssertionError(f"jupyterhub exited with code {self.hub_process.returncode}\n{self.tail()}")
        return super().answers()

    def start_hub(self, **settings: str) -> None:
        """Start the hub (with ``settings`` changed in its environment) and wait until it answers."""
        self.env.update(settings)
        self.hub_process = start_hub(self.klass, self.env, self.log)
        self.wait("the hub answering on its public address", self.answers, HUB_START_S)

    def start_proxy(self) -> None:
        """Start the proxy, as its service manager would (systemd's Restart=always)."""
        self.proxy_process = start_proxy(self.env, self.log)


@contextlib.contextmanager
def class_hub(mnist_dir: Path) -> Iterator[Hub]:
    """Yield a running hub with an instructor, a grader account and two students; remove it all afterwards."""
    remove_stale_classes(PREFIX)
    tag = f"{PREFIX}{secrets.token_hex(2)}-"
    folder = Path(tempfile.mkdtemp(prefix="ch8-hub-test-"))
    log = folder / "hub.log"
    klass = create_class(folder, tag, students=["ann", "ben"], instructors=("ines",), mnist_dir=mnist_dir)
    url = f"http://127.0.0.1:{free_port()}"
    hub = Hub(url=url, log=log, klass=klass,
              users={"instructor": klass.instructors[0], "ann": klass.students[0], "ben": klass.students[1]},
              # A restarted proxy gets its routes back within ROUTE_CHECK_S (30 s in a real deployment).
              env={**hub_environment(klass, url, mnist_dir), "CH8_HUB_ROUTE_CHECK_S": str(ROUTE_CHECK_S)})
    try:
        hub.start_proxy()
        hub.start_hub()
        yield hub
    finally:
        if hub.hub_process is not None:
            stop_hub(hub.hub_process)
        if hub.proxy_process is not None:
            stop_proxy(hub.proxy_process)
        keep = os.environ.get("CH8_KEEP_HUB_LOG")
        if keep and log.exists():
            shutil.copy(log, keep)
        remove_class(klass)  # stops the servers and kernels the hub leaves running


def fill_in(hub: Hub, user: str, answers: dict[str, dict[str, str]]) -> None:
    """Write ``answers`` ({notebook: {grade_id: code}}) into the user's fetched notebooks, through their server."""
    for notebook, cells in answers.items():
        path = f"{ASSIGNMENT}/{notebook}.ipynb"
        hub.save_notebook(user, path, hubclient.fill_in(hub.read_notebook(user, path), cells))


def assignments(hub: Hub, user: str) -> list[dict]:
    """Return the lab's entries in ``user``'s Assignments panel (released, fetched, submitted)."""
    answer = hub.ok("GET", f"/user/{user}/assignments?course_id={COURSE_ID}", user)
    return [entry for entry in answer["value"] if entry["assignment_id"] == ASSIGNMENT]


def action(hub: Hub, user: str, verb: str) -> dict:
    """Press one of the Assignments panel's buttons (fetch, submit, fetch_feedback) for the lab as ``user``."""
    return hub.ok("POST", f"/user/{user}/assignments/{verb}", user,
                  json={"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})


def formgrader(hub: Hub, method: str, path: str, **kwargs) -> dict | list:
    """Call the course's formgrader API as the instructor."""
    return hub.ok(method, f"/services/{COURSE_ID}/formgrader/api/{path}", hub.users["instructor"], **kwargs)


@pytest.fixture(scope="module")
def semester() -> Iterator[dict]:
    """Run the whole round trip once and return what every step saw, for the tests below to check."""
    problems = missing_for_the_lab(shared_mnist())
    if problems:
        message = "the class hub test needs (CI: MNIST_DIR=../shared/mnist):\n  " + "\n  ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    seen: dict = {"started": time.monotonic()}
    with class_hub(shared_mnist()) as hub:
        ines, ann, ben = hub.users["instructor"], hub.users["ann"], hub.users["ben"]
        seen["hub"] = hub
        seen["wrong_password"] = hub.login(ann, "not-" + hub.klass.passwords[ann]).status_code
        for user in (ines, ann, ben):
            hub.log_in(user, hub.klass.passwords[user])
        # Ines and Ann log in before the release, Ben only after it.
        hub.spawn(ines)
        hub.spawn(ann)
        hub.wait_for_server(ines)
        hub.wait_for_server(ann)
        seen["courses"] = hub.ok("GET", f"/user/{ines}/formgraders", ines)["value"]
        seen["student_formgrader"] = hub.call("GET", f"/services/{COURSE_ID}/formgrader/api/status", ann).status_code
        seen["student_own_formgrader"] = hub.call("GET", f"/user/{ann}/formgrader/api/status", ann).status_code

        formgrader(hub, "POST", f"assignment/{ASSIGNMENT}/assign")  # student copies and gradebook from solutions/
        formgrader(hub, "POST", f"assignment/{ASSIGNMENT}/release")
        seen["ann_sees"] = assignments(hub, ann)
        hub.spawn(ben)
        action(hub, ann, "fetch")
        answers = solution_answers(ROOT)
        fill_in(hub, ann, answers)
        seen["ann_validate"] = hub.ok("POST", f"/user/{ann}/assignments/validate", ann,
                                      json={"path": f"{ASSIGNMENT}/{NB1}.ipynb"}, timeout=GRADE_S)["value"]
        action(hub, ann, "submit")
        hub.wait_for_server(ben)
        seen["ben_landing"] = hub.call("GET", f"/user/{ben}/", ben).headers.get("Location", "")
        seen["ben_guide"] = hub.call("GET", f"/user/{ben}/api/contents/labguide/02_overfitting.md", ben).status_code
        seen["ben_sees"] = assignments(hub, ben)
        action(hub, ben, "submit")  # Ben hands in his untouched copy by mistake ...
        formgrader(hub, "POST", f"assignment/{ASSIGNMENT}/collect")
        seen["first_collect"] = collected(hub)
        # ... the deadline passes, and Ben hands in notebook 01, with a mistake, late.
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        deadline = (now + dt.timedelta(seconds=1)).replace(microsecond=0)  # nbgrader takes whole seconds
        formgrader(hub, "PUT", f"assignment/{ASSIGNMENT}",
                   json={"duedate_notimezone": deadline.isoformat(sep=" "), "duedate_timezone": "UTC"})
        time.sleep((deadline - now).total_seconds() + 0.2)
        fill_in(hub, ben, {NB1: {**answers[NB1], MISTAKE.cell: MISTAKE.code}})
        seen["ben_validate"] = hub.ok("POST", f"/user/{ben}/assignments/validate", ben,
                                      json={"path": f"{ASSIGNMENT}/{NB1}.ipynb"}, timeout=GRADE_S)["value"]
        action(hub, ben, "submit")
        done = impersonate(hub)  # ... and Ann hands in her work under Ben's name, after him
        assert done.returncode == 0, done.stderr[-2000:]
        seen["handed_in_as_ben"] = handed_in(hub, ben)
        seen["second_collect_log"] = formgrader(hub, "POST", f"assignment/{ASSIGNMENT}/collect")["log"]
        seen["second_collect"] = collected(hub)
        seen["isolation"] = isolation_probe(hub)

        for student in (ann, ben):
            seen[f"autograde {student}"] = formgrader(hub, "POST", f"submission/{ASSIGNMENT}/{student}/autograde",
                                                      timeout=GRADE_S)
        # The instructor grades Ann's written answers by hand, as the Manual Grading page does, one with a comment
        seen["written_graded"] = [grade_in_formgrader(f"{hub.url}/services/{COURSE_ID}/formgrader",
                                                      hub.tokens[ines], ann, question.notebook, question.name,
                                                      question.points, HAND_COMMENT if i == 0 else "")
                                  for i, question in enumerate(questions(ROOT))]
        formgrader(hub, "POST", f"assignment/{ASSIGNMENT}/generate_feedback", timeout=GRADE_S)
        formgrader(hub, "POST", f"assignment/{ASSIGNMENT}/release_feedback")
        seen["submissions"] = formgrader(hub, "GET", f"submissions/{ASSIGNMENT}")
        seen["notebooks"] = {student: formgrader(hub, "GET", f"student_notebook_submissions/{student}/{ASSIGNMENT}")
                             for student in (ann, ben)}
        seen["feedback"] = {}
        for student in (ann, ben):
            action(hub, student, "fetch_feedback")
            seen["feedback"][student] = feedback_pages(hub, student)
        seen["isolation"].update(feedback_probe(hub))
        seen["mnist_in_homes"] = [str(path) for student in (ann, ben) for path in hub.klass.home(student).rglob("*")
                                  if "ubyte" in path.name or path.suffix == ".npz"]
        print(f"class hub round trip: {time.monotonic() - seen['started']:.0f} s")
        if os.environ.get("CH8_KEEP_HUB_LOG"):
            Path(os.environ["CH8_KEEP_HUB_LOG"] + ".json").write_text(
                json.dumps({k: v for k, v in seen.items() if k != "hub"}, indent=1, default=str))
        yield seen


def collected(hub: Hub) -> dict[str, str]:
    """Return {student: timestamp} of the submissions in the grader's course folder (as root, like an admin)."""
    folder = hub.klass.course / "course" / "submitted"
    return {path.parent.parent.name: path.read_text().strip() for path in folder.glob(f"*/{ASSIGNMENT}/timestamp.txt")}


def isolation_probe(hub: Hub) -> dict[str, str]:
    """As Ann's OS user, try to reach Ben's submission and the course's files; return what each attempt gave."""
    inbound = hub.klass.exchange / COURSE_ID / "inbound"
    ben = hub.users["ben"]
    (latest, *_) = sorted((p.name for p in inbound.iterdir() if p.name.startswith(ben + "+")), reverse=True)
    targets = {
        "list inbound": f"os.listdir({str(inbound)!r})",
        "guess Ben's submission": f"os.listdir({str(inbound / latest.rsplit('+', 1)[0])!r})",
        "list Ben's home": f"os.listdir({str(hub.klass.home(ben))!r})",
        "list the course": f"os.listdir({str(hub.klass.course)!r})",
        "read the solutions": f"open({str(hub.klass.course / 'solutions' / ASSIGNMENT / (NB1 + '.ipynb'))!r}).read()",
    }
    return probe(hub, targets)


def feedback_probe(hub: Hub) -> dict[str, str]:
    """As Ann's OS user, try to list the feedback released to the whole class; return what that gave."""
    return probe(hub, {"list feedback": f"os.listdir({str(hub.klass.exchange / COURSE_ID / 'feedback')!r})"})


def probe(hub: Hub, targets: dict[str, str]) -> dict[str, str]:
    """Run each expression of ``targets`` as Ann; return {name: 'allowed' or the error's type}."""
    code = "import os, json\nout = {}\n" + "".join(
        f"try:\n    {expression}\n    out[{name!r}] = 'allowed'\nexcept OSError as error:\n"
        f"    out[{name!r}] = type(error).__name__\n" for name, expression in targets.items()) + "print(json.dumps(out))"
    done = as_user(hub.klass, hub.users["ann"], "-c", code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def impersonate(hub: Hub) -> subprocess.CompletedProcess:
    """As Ann, in her terminal: hand in her copy of the lab under Ben's name."""
    env = {"CH8_COURSE_ID": COURSE_ID, "CH8_EXCHANGE": str(hub.klass.exchange),
           "JUPYTER_CONFIG_PATH": f"{ROOT / 'hub' / 'jupyter' / 'student'}:{ROOT / 'hub' / 'jupyter' / 'all'}"}
    return as_user(hub.klass, hub.users["ann"], "-m", "nbgrader", "submit", ASSIGNMENT, "--student", hub.users["ben"],
                   env=env)


def handed_in(hub: Hub, student: str) -> list[tuple[str, str]]:
    """Return (timestamp, owner) of every hand-in in the exchange under ``student``'s name, oldest first."""
    inbound = hub.klass.exchange / COURSE_ID / "inbound"
    return sorted((path.name.split("+")[2], pwd.getpwuid(path.stat().st_uid).pw_name)
                  for path in inbound.iterdir() if path.name.startswith(student + "+"))


def feedback_pages(hub: Hub, user: str) -> dict[str, str]:
    """Return {notebook: visible text} of the feedback pages in ``user``'s home, read through their server."""
    base = f"/user/{user}/api/contents/{ASSIGNMENT}/feedback"
    pages = {}
    for stamp in hub.ok("GET", base, user)["content"]:
        for item in hub.ok("GET", f"{base}/{stamp['name']}", user)["content"]:
            if item["name"].endswith(".html"):
                page = hub.klass.folder / f"page-{user}-{item['name']}"
                page.write_text(hub.ok("GET", f"{base}/{stamp['name']}/{item['name']}", user)["content"])
                pages[item["name"][:-5]] = page_text(page)
    return pages


HAND_COMMENT = "Signal and noise both named, with an example of each: full marks."


def notebook_max(notebook: str) -> float:
    """Return a notebook's points: its checks and its written answers."""
    return sum(points for (name, _), points in max_points(ROOT).items() if name == notebook)


def total(seen: dict, student: str) -> float:
    """Return the student's score over the whole lab, as the formgrader's gradebook holds it."""
    return sum(row["score"] for row in seen["submissions"] if row["student"] == student)


# --- the class, checked ---------------------------------------------------------------------------

def test_people_log_in_with_their_system_password(semester):
    """PAM: a wrong password is refused; the right ones gave each person a token the round trip used."""
    assert semester["wrong_password"] == 403
    assert len(semester["hub"].tokens) == 3


def test_instructor_finds_the_course_formgrader_and_students_do_not(semester):
    """The instructor's Course List shows the shared formgrader; students reach no formgrader at all."""
    courses = semester["courses"]
    assert [c["course_id"] for c in courses] == [COURSE_ID], courses
    assert courses[0]["kind"] == "jupyterhub" and f"/services/{COURSE_ID}/" in courses[0]["url"]
    assert semester["student_formgrader"] == 403
    assert semester["student_own_formgrader"] == 404  # the extension is off in students' servers


def test_a_student_sees_the_released_lab(semester):
    """Before fetching, Ann's Assignments panel lists the lab as released, with its four notebooks."""
    (entry,) = [e for e in semester["ann_sees"] if e["status"] == "released"]
    assert sorted(nb["notebook_id"] for nb in entry["notebooks"]) == sorted(solution_answers(ROOT))


def test_a_student_who_logs_in_after_the_release_lands_on_the_lab(semester):
    """Ben's server fetched the lab as it started, and JupyterLab opens on the first notebook."""
    ben = semester["hub"].users["ben"]
    assert urlsplit(semester["ben_landing"]).path == f"/user/{ben}/lab/tree/{ASSIGNMENT}/{NB1}.ipynb"
    assert [e["status"] for e in semester["ben_sees"]] == ["fetched"]


def test_students_have_the_guide_and_mnist_without_downloading(semester):
    """~/labguide opens in each server; MNIST came from the shared folder: no copy in any home."""
    assert semester["ben_guide"] == 200
    assert semester["ann_validate"] == {}  # Ann's notebook loaded MNIST and passed its checks
    assert semester["mnist_in_homes"] == []


def test_validate_passes_complete_work_and_names_the_mistake(semester):
    """The Validate button, run by each student's own server: Ann passes, Ben's mistake is named."""
    assert semester["ann_validate"] == {}
    failed = semester["ben_validate"]["failed"]
    assert any(MISTAKE.message in " ".join(f["error"].split()) for f in failed), failed


def test_gradebook_holds_each_students_score(semester):
    """Ann's complete lab earns all the points (the written ones graded by hand); Ben's notebook 01 loses
    exactly its mistake's 2 of 7 autograded points, and his blank written answers earn nothing."""
    hub = semester["hub"]
    ann, ben = hub.users["ann"], hub.users["ben"]
    assert {row["student"] for row in semester["submissions"]} == {ann, ben}
    assert total(semester, ann) == total_points(ROOT), semester["submissions"]
    scores = {nb["name"]: (nb["score"], nb["max_score"]) for nb in semester["notebooks"][ben]}
    assert scores[NB1] == (5, notebook_max(NB1)), scores
    assert total(semester, ben) == 5  # the notebooks he never answered earn nothing


def test_a_late_second_submission_replaces_the_first(semester):
    """Ben's first hand-in was collected, then replaced by his late one: graded on it, marked late."""
    hub = semester["hub"]
    ann, ben = hub.users["ann"], hub.users["ben"]
    first, second = semester["first_collect"], semester["second_collect"]
    assert set(first) == set(second) == {ann, ben}
    assert second[ben] > first[ben] and second[ann] == first[ann]
    assert "seconds late" in semester[f"autograde {ben}"]["log"]
    assert "seconds late" not in semester[f"autograde {ann}"]["log"]


def test_a_hand_in_under_another_students_name_is_refused(semester):
    """Ann's copy handed in as Ben, after Ben: collect refuses it and keeps Ben's own latest hand-in."""
    hub = semester["hub"]
    ann, ben = hub.users["ann"], hub.users["ben"]
    owners = [owner for _, owner in semester["handed_in_as_ben"]]
    assert owners == [ben, ben, ann], semester["handed_in_as_ben"]
    own_latest = semester["handed_in_as_ben"][1][0]
    assert semester["second_collect"][ben] == own_latest
    assert f"handed in by {ann} under the name of {ben}" in semester["second_collect_log"]


def test_each_student_gets_their_own_feedback_only(semester):
    """Feedback fetched into each home shows that student's own scores and, for Ben, what his mistake is."""
    hub = semester["hub"]
    ann, ben = (semester["feedback"][hub.users[name]] for name in ("ann", "ben"))
    assert sorted(ann) == sorted(ben) == sorted(solution_answers(ROOT))
    nb1, nb3 = notebook_max(NB1), notebook_max("03_dropout")
    assert f"{NB1} (Score: {nb1} / {nb1})" in ann[NB1] and f"{NB1} (Score: 5.0 / {nb1})" in ben[NB1]
    assert f"03_dropout (Score: {nb3} / {nb3})" in ann["03_dropout"]
    assert f"03_dropout (Score: 0.0 / {nb3})" in ben["03_dropout"]
    assert MISTAKE.message in ben[NB1]


def test_a_written_answer_graded_by_hand_reaches_the_students_feedback(semester):
    """The instructor's points and comment on Ann's written answers are stored and on her feedback page."""
    hub = semester["hub"]
    graded = semester["written_graded"]
    assert len(graded) == len(questions(ROOT)) >= 8
    assert all(grade["manual_score"] == grade["max_score"] == 2 for grade in graded), graded
    first = questions(ROOT)[0]
    page = " ".join(semester["feedback"][hub.users["ann"]][first.notebook].split())
    assert HAND_COMMENT in page


def test_a_student_cannot_reach_another_students_work(semester):
    """As Ann's OS user: the exchange's inbox and feedback cannot be listed, Ben's home and the course are closed."""
    seen = semester["isolation"]
    assert seen["list inbound"] == "PermissionError"
    assert seen["guess Ben's submission"] == "FileNotFoundError"  # nbgrader adds a random part to the name
    assert seen["list Ben's home"] == "PermissionError"
    assert seen["list the course"] == "PermissionError"
    assert seen["read the solutions"] == "PermissionError"
    assert seen["list feedback"] == "PermissionError"


# --- a class day on the same hub: limits, a runaway, a killed server, proxy and hub restarted --------

GiB = 2**30
# Ann's kernel holds 0.8 GB while a program she starts fills 2.6 GB more: each is below her limit
# (3 GiB), together they are not. The kernel's OOM killer must stop the larger one, and only it.
TOGETHER = """import subprocess, sys
held = np.ones(100_000_000)
child = subprocess.run([sys.executable, "-c", "import numpy as np; a = np.ones(325_000_000); print('filled')"],
                       capture_output=True, text=True)
del held
print(child.returncode, child.stdout.strip())"""
BUSY = "busy = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(3)]"
FORK_BOMB = """sleepers, error = [], ''
try:
    while len(sleepers) < 2000:
        sleepers.append(subprocess.Popen(['sleep', '120']))
except OSError as e:
    error = type(e).__name__
for p in sleepers:
    p.kill(); p.wait()
print(len(sleepers), error)"""


def alive(pid: int) -> bool:
    """Return whether process ``pid`` runs (and is not a zombie)."""
    with contextlib.suppress(OSError):
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:3] + " "
    return False


def cores_used(folders: list[str], seconds: float) -> float:
    """Return how many cores the processes of a cgroup used on average over the next ``seconds``."""
    before, start = hublimits.usage(folders).cpu_seconds, time.monotonic()
    time.sleep(seconds)
    return (hublimits.usage(folders).cpu_seconds - before) / (time.monotonic() - start)


def runaway(hub: Hub, ann_kernel: hubclient.Kernel, ben_kernel: hubclient.Kernel, seen: dict) -> None:
    """Ann's kernel asks for too much memory, too many cores, too many processes; Ben works on."""
    group = hublimits.cgroup_of(int(ann_kernel.execute("print(os.getpid())").text))
    seen["limits"] = hublimits.limits_of(group)
    seen["rlimits"] = ann_kernel.execute("import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0], "
                                         "resource.getrlimit(resource.RLIMIT_NPROC)[0])").text.split()
    seen["huge array"] = ann_kernel.execute("np.ones((100_000, 100_000))")
    seen["array over the limit"] = ann_kernel.execute("too_much = np.ones((25_000, 25_000))")  # 4.7 GiB
    seen["two processes over the limit"] = ann_kernel.execute(TOGETHER).text.split()
    ann_kernel.execute(BUSY)
    seen["cores of a runaway"] = cores_used(group, 3)
    seen["ben during the runaway"] = ben_kernel.execute("print(y)").text.strip()
    ann_kernel.execute("for p in busy: p.kill(); p.wait()")
    seen["fork bomb"] = ann_kernel.execute(FORK_BOMB).text.split()
    seen["ann after the runaway"] = ann_kernel.execute("print(x)").text.strip()


def server_killed(hub: Hub, ann_kernel: hubclient.Kernel, seen: dict) -> None:
    """Ben's server is killed (a crash, an OOM kill); he starts it again; Ann notices nothing."""
    ben, notebook = hub.users["ben"], f"{ASSIGNMENT}/{NB1}.ipynb"
    before = hub.read_notebook(ben, notebook)
    old_server, old_kernel = server_pid(ben), seen["ben kernel pid"]
    os.kill(old_server, signal.SIGKILL)
    seen["ann while ben is down"] = ann_kernel.execute("x += 1; print(x)").text.strip()
    hub.spawn(ben)  # the home page's Start button: the hub notices the dead server and starts a new one
    hub.wait_for_server(ben, SPAWN_S)
    seen["ben's notebook kept"] = hub.read_notebook(ben, notebook)["cells"] == before["cells"]
    seen["ben's old processes"] = [pid for pid in (old_server, old_kernel) if alive(pid)]
    seen["ben's new server"] = server_pid(ben) not in (None, old_server)
    seen["ben's landing"] = urlsplit(hub.call("GET", f"/user/{ben}/", ben).headers.get("Location", "")).path


def proxy_killed(hub: Hub, ann_kernel: hubclient.Kernel, seen: dict) -> hubclient.Kernel:
    """The proxy is killed and started again: the routes come back; return Ann's kernel, reconnected."""
    ann = hub.users["ann"]
    hub.proxy_process.kill()
    hub.proxy_process.wait(timeout=REQUEST_S)
    with contextlib.suppress(requests.ConnectionError):
        requests.get(f"{hub.url}/hub/api/", timeout=5)
        raise AssertionError("the hub's address still answers with its proxy killed")
    started = time.monotonic()
    hub.start_proxy()
    hub.wait("Ann's route back in the restarted proxy",
             lambda: hub.call("GET", f"/user/{ann}/api/status", ann).status_code == 200, ROUTE_CHECK_S + 30)
    seen["routes back after"] = time.monotonic() - started
    ann_kernel.close()
    again = hubclient.Kernel(hub, ann, ann_kernel.id)
    seen["ann after the proxy restart"] = again.execute("print(x)").text.strip()
    return again


def hub_restarted(hub: Hub, ann_kernel: hubclient.Kernel, seen: dict) -> None:
    """The hub restarts mid-session, with a shorter idle timeout; Ann keeps working through it."""
    ann, ben = hub.users["ann"], hub.users["ben"]
    servers = {user: server_pid(user) for user in (ann, ben)}
    stop_hub(hub.hub_process)
    seen["hub api while down"] = requests.get(f"{hub.url}/hub/api/", timeout=REQUEST_S).status_code
    seen["ann while the hub is down"] = ann_kernel.execute("x += 1; print(x)").text.strip()
    hub.start_hub(CH8_HUB_CULL_IDLE_S=str(CULL_IDLE_S), CH8_HUB_CULL_EVERY_S="5")
    seen["servers found again"] = {user: hub.server(user).get("ready") and server_pid(user) == pid
                                   for user, pid in servers.items()}
    seen["ann's kernel after the restart"] = ann_kernel.execute("print(x)").text.strip()
    notebook = f"{ASSIGNMENT}/{NB1}.ipynb"
    content = hub.read_notebook(ann, notebook)
    content["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "Written after the hub restarted."})
    hub.save_notebook(ann, notebook, content)
    seen["ann saves after the restart"] = hub.read_notebook(ann, notebook)["cells"][-1]["source"]
    ines, path = hub.users["instructor"], f"/services/{COURSE_ID}/formgrader/api/assignment/{ASSIGNMENT}"
    hub.wait("the formgrader service back", lambda: hub.call("GET", path, ines).status_code == 200, HUB_START_S)
    seen["formgrader after the restart"] = formgrader(hub, "GET", f"assignment/{ASSIGNMENT}")["name"]


CULL_IDLE_S = 90  # the restarted hub's idle timeout: shorter than Ines's pause, longer than Ann's and Ben's


def idle_culled(hub: Hub, ann_kernel: hubclient.Kernel, seen: dict) -> None:
    """The culler stops the instructor's idle server and leaves Ann's, in use, alone."""
    ines, ann = hub.users["instructor"], hub.users["ann"]
    worked = [time.monotonic()]

    def ines_culled_while_ann_works() -> bool:
        """Ann runs a cell every 15 s (her work keeps her server in use); tell whether Ines's server is gone."""
        if time.monotonic() - worked[0] > 15:
            ann_kernel.execute("x += 0")
            worked[0] = time.monotonic()
        return not hub.server(ines)

    hub.wait("the culler stopping Ines's idle server", ines_culled_while_ann_works, CULL_IDLE_S + 30, every=1)
    seen["ann's server after culling"] = bool(hub.server(ann).get("ready"))
    seen["ann's kernel after culling"] = ann_kernel.execute("print(x)").text.strip()
    seen["culler log"] = [line for line in hub.tail(400).splitlines() if "Culling server" in line]


@pytest.fixture(scope="module")
def class_day(semester) -> Iterator[dict]:
    """After the semester, on its hub: each fault of a class day in turn; return what each step saw."""
    hub = semester["hub"]
    ann, ben = hub.users["ann"], hub.users["ben"]
    started, seen = time.monotonic(), {}
    ann_kernel = hub.open_notebook(ann, f"{ASSIGNMENT}/{NB1}.ipynb")
    ben_kernel = hub.open_notebook(ben, f"{ASSIGNMENT}/{NB1}.ipynb")
    try:
        ann_kernel.execute("import os, subprocess, sys\nimport numpy as np\nx = 41")
        seen["ben kernel pid"] = int(ben_kernel.execute("import os\ny = 7\nprint(os.getpid())").text)
        runaway(hub, ann_kernel, ben_kernel, seen)
        server_killed(hub, ann_kernel, seen)
        ann_kernel = proxy_killed(hub, ann_kernel, seen)
        hub_restarted(hub, ann_kernel, seen)
        idle_culled(hub, ann_kernel, seen)
    finally:
        ann_kernel.close()
        ben_kernel.close()
    print(f"class day on the hub: {time.monotonic() - started:.0f} s (a runaway used {seen['cores of a runaway']:.2f} "
          f"cores, a fork bomb stopped after {seen['fork bomb'][0]} processes, routes back "
          f"{seen['routes back after']:.1f} s after a proxy restart)")
    yield seen


def test_each_server_runs_in_its_own_limits(class_day):
    """The kernel's cgroup holds the configured limits; its rlimits say the same memory and processes."""
    limits = class_day["limits"]
    memory = limits.get("memory.max", limits.get("memory.limit_in_bytes"))
    cpu = limits.get("cpu.max", limits.get("cpu.cfs_quota_us", "")).split()[0]
    assert (memory, cpu, limits["pids.max"]) == (str(3 * GiB), "100000", "512"), limits
    assert class_day["rlimits"] == [str(3 * GiB), "512"]


def test_an_oversized_array_is_a_memory_error_in_that_kernel_only(class_day):
    """np.ones too large for the limit (but not for the machine) fails in Ann's kernel, which lives on."""
    for key in ("huge array", "array over the limit"):
        assert (class_day[key].status, class_day[key].ename) == ("error", "MemoryError"), class_day[key]
    assert class_day["ann after the runaway"] == "41"
    assert class_day["ben during the runaway"] == "7"


def test_a_students_processes_together_stay_within_the_limit(class_day):
    """Two processes of Ann's, each within the limit, together over it: the larger is stopped, the kernel lives."""
    assert class_day["two processes over the limit"] == ["-9"], class_day["two processes over the limit"]


def test_a_runaway_gets_one_core_and_a_bounded_number_of_processes(class_day):
    """Three endless loops of Ann's share one core; a fork bomb stops below the process limit."""
    # At most the cap (and some: a 3 s sample); at least something, however busy the machine is.
    assert 0 < class_day["cores of a runaway"] < 1.15, class_day["cores of a runaway"]
    started, error = class_day["fork bomb"]
    assert int(started) < 512 and error == "BlockingIOError", class_day["fork bomb"]


def test_a_killed_server_is_started_again_with_the_work_saved(class_day):
    """Ben's killed server (and its orphaned kernel) is gone; his new one opens his lab; Ann worked on."""
    ben = class_day
    assert ben["ann while ben is down"] == "42"
    assert ben["ben's notebook kept"] and ben["ben's new server"]
    assert ben["ben's old processes"] == []
    assert ben["ben's landing"].endswith(f"/lab/tree/{ASSIGNMENT}/{NB1}.ipynb")


def test_a_restarted_proxy_gets_its_routes_back(class_day):
    """Killed and started again, the proxy routes to the running servers within the hub's route check."""
    assert class_day["routes back after"] < ROUTE_CHECK_S + 15
    assert class_day["ann after the proxy restart"] == "42"  # the kernel ran on without its proxy


def test_a_restarted_hub_finds_the_running_servers(class_day):
    """While the hub restarts, Ann's kernel runs her code; the new hub adopts both servers as they were."""
    assert class_day["hub api while down"] >= 500  # the proxy says the hub is away
    assert class_day["ann while the hub is down"] == "43"
    assert all(class_day["servers found again"].values()), class_day["servers found again"]
    assert class_day["ann's kernel after the restart"] == "43"
    assert class_day["ann saves after the restart"] == "Written after the hub restarted."
    assert class_day["formgrader after the restart"] == ASSIGNMENT


def test_the_culler_stops_idle_servers_only(class_day):
    """jupyterhub-idle-culler, a hub service, stopped Ines's idle server and left Ann's alone."""
    assert class_day["ann's server after culling"] and class_day["ann's kernel after culling"] == "43"
    assert any("Culling server" in line for line in class_day["culler log"]), class_day["culler log"]
