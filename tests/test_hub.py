"""A class on a real JupyterHub: release, fetch, validate, submit, collect, autograde and feedback.

The hub is hub/jupyterhub_config.py itself, started with `jupyterhub` and configurable-http-proxy
on 127.0.0.1, with system users made for this run (an instructor, a grader account that runs the
course's formgrader service, and two students) who log in with their passwords (PAM). Everything
goes through the hub's REST API, the students' own servers (nbgrader's Assignments endpoints,
as the JupyterLab extension calls them) and the formgrader's HTTP API in the course service, so
nbgrader's exchange sees distinct OS users and file permissions are the real ones.

Needs root (it creates the users and removes them afterwards) and configurable-http-proxy
(`npm install -g configurable-http-proxy`); elsewhere the tests are skipped with that message,
and with CI=true they fail instead. The whole class takes about two minutes.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from instructor.classhub import (COURSE_ID, Class, create_class, free_port, hub_environment, missing_prerequisites,
                                 remove_class, remove_stale_classes, start_hub, stop_hub, unreachable_for_others)
from instructor.course import ASSIGNMENT, ROOT, max_points, page_text, solution_answers, total_points
from instructor.written import grade_in_formgrader, questions
from mutants import MUTANTS, NB1

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "ch8t"  # every account and group of this test starts with it
MISTAKE = MUTANTS["summed_error"]  # Ben's mistake: the summed error instead of the mean (-2 points)
HUB_START_S, SPAWN_S, REQUEST_S, GRADE_S = 90, 120, 60, 300  # every wait is bounded


def as_user(klass: Class, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the lab's Python with ``args`` as system user ``name`` (no extra groups) in their home."""
    entry = pwd.getpwnam(name)
    return subprocess.run([str(klass.bin / "python"), *args], user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                          capture_output=True, text=True, timeout=REQUEST_S, cwd=klass.home(name),
                          env={"HOME": str(klass.home(name)), "USER": name, "PATH": f"{klass.bin}:/usr/bin:/bin",
                               **klass.env, **(env or {})})


@dataclass
class Hub:
    """A running class hub: its address, its class, who is who, their tokens, its log."""

    url: str
    klass: Class
    log: Path
    users: dict[str, str]  # role -> user name
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> API token

    def tail(self, lines: int = 80) -> str:
        """Return the end of the hub's log (the hub, the proxy and every server write there)."""
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(text[-lines:])

    def call(self, method: str, path: str, user: str, *, timeout: float = REQUEST_S, **kwargs) -> requests.Response:
        """Send one request to the hub as ``user`` (by their token); return the response."""
        headers = {"Authorization": f"token {self.tokens[user]}"}
        return requests.request(method, self.url + path, headers=headers, timeout=timeout,
                                allow_redirects=False, **kwargs)

    def ok(self, method: str, path: str, user: str, **kwargs) -> dict | list:
        """Send one request as ``user``, check it succeeded, return its JSON answer."""
        response = self.call(method, path, user, **kwargs)
        assert response.status_code in (200, 201), (
            f"{method} {path} as {user}: HTTP {response.status_code}\n{response.text[:2000]}\n"
            f"--- hub log ---\n{self.tail()}")
        answer = response.json()
        if isinstance(answer, dict) and answer.get("success") is False:
            raise AssertionError(f"{method} {path} as {user} failed:\n{answer.get('value') or answer.get('error')}\n"
                                 f"{answer.get('log', '')}\n--- hub log ---\n{self.tail()}")
        return answer

    def wait(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        """Wait until ``ready()`` is true, at most ``timeout`` seconds; else fail with the hub's log."""
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not done after {timeout:.0f} s\n--- hub log ---\n{self.tail()}")
            time.sleep(0.5)

    def login(self, user: str, password: str) -> requests.Response:
        """Ask the hub for an API token with a user name and password (PAM); return the response."""
        return requests.post(f"{self.url}/hub/api/users/{user}/tokens", timeout=REQUEST_S,
                             json={"auth": {"username": user, "password": password}, "note": "hub test"})

    def spawn(self, user: str) -> None:
        """Ask the hub to start ``user``'s server (does not wait)."""
        response = self.call("POST", f"/hub/api/users/{user}/server", user)
        assert response.status_code in (201, 202), f"spawn {user}: HTTP {response.status_code} {response.text}"

    def wait_for_server(self, user: str) -> None:
        """Wait until ``user``'s server is up."""
        def ready() -> bool:
            model = self.call("GET", f"/hub/api/users/{user}", user).json()
            return bool(model.get("servers", {}).get("", {}).get("ready"))
        self.wait(f"server of {user}", ready, SPAWN_S)


@contextlib.contextmanager
def class_hub(mnist_dir: Path) -> Iterator[Hub]:
    """Yield a running hub with an instructor, a grader account and two students; remove it all afterwards."""
    remove_stale_classes(PREFIX)
    tag = f"{PREFIX}{secrets.token_hex(2)}-"
    folder = Path(tempfile.mkdtemp(prefix="ch8-hub-test-"))
    log = folder / "hub.log"
    klass = create_class(folder, tag, students=["ann", "ben"], instructors=("ines",), mnist_dir=mnist_dir)
    process = None
    try:
        hub = Hub(url=f"http://127.0.0.1:{free_port()}", klass=klass, log=log,
                  users={"instructor": klass.instructors[0], "ann": klass.students[0], "ben": klass.students[1]})
        process = start_hub(klass, hub_environment(klass, hub.url, mnist_dir), log)

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"jupyterhub exited with code {process.returncode}\n{hub.tail()}")
            with contextlib.suppress(requests.RequestException):
                return requests.get(f"{hub.url}/hub/api/", timeout=5).status_code == 200
            return False
        hub.wait("the hub answering on its public address", up, HUB_START_S)
        yield hub
    finally:
        if process is not None:
            stop_hub(process, klass)
        keep = os.environ.get("CH8_KEEP_HUB_LOG")
        if keep and log.exists():
            shutil.copy(log, keep)
        remove_class(klass)


def fill_in(hub: Hub, user: str, answers: dict[str, dict[str, str]]) -> None:
    """Write ``answers`` ({notebook: {grade_id: code}}) into the user's fetched notebooks, through their server."""
    for notebook, cells in answers.items():
        path = f"/user/{user}/api/contents/{ASSIGNMENT}/{notebook}.ipynb"
        model = hub.ok("GET", path, user)
        for cell in model["content"]["cells"]:
            grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if grade_id in cells:
                cell["source"] = cells[grade_id]
        hub.ok("PUT", path, user, json={"type": "notebook", "format": "json", "content": model["content"]})


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


def mnist_dir() -> Path | None:
    """Return the MNIST folder the class shares (MNIST_DIR), or None when it is not set up."""
    folder = os.environ.get("MNIST_DIR", "")
    return Path(folder) if folder and Path(folder, "train-images-idx3-ubyte.gz").is_file() else None


@pytest.fixture(scope="module")
def semester() -> Iterator[dict]:
    """Run the whole round trip once and return what every step saw, for the tests below to check."""
    problems = missing_prerequisites()
    if mnist_dir() is None:
        problems.append("set MNIST_DIR to a folder with the four MNIST files (CI: ../shared/mnist)")
    for needed in (ROOT, Path(sys.executable).parent, mnist_dir()):
        blocked = needed and unreachable_for_others(needed)
        if blocked:
            problems.append(f"every class member's server reads {needed}, but other users cannot enter "
                            f"{blocked}: chmod o+x {blocked}, or put the checkout where everyone can read it")
    if problems:
        message = "the class hub test needs:\n  " + "\n  ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    seen: dict = {"started": time.monotonic()}
    with class_hub(mnist_dir()) as hub:
        ines, ann, ben = hub.users["instructor"], hub.users["ann"], hub.users["ben"]
        seen["hub"] = hub
        seen["wrong_password"] = hub.login(ann, "not-" + hub.klass.passwords[ann]).status_code
        for user in (ines, ann, ben):
            response = hub.login(user, hub.klass.passwords[user])
            assert response.status_code in (200, 201), f"login {user}: {response.status_code} {response.text}"
            hub.tokens[user] = response.json()["token"]
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
