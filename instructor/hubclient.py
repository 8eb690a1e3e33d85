"""People on the class hub, through its REST APIs and a kernel's websocket, the way JupyterLab goes.

tests/test_hub.py and bench/bench_class_day.py act through it: log in with a password (PAM), start a
server, open a notebook (a session and its kernel), run cells over the kernel's websocket, save.

    hub = Hub("http://127.0.0.1:8000")
    hub.tokens[name] = hub.login(name, password).json()["token"]
    hub.spawn(name); hub.wait_for_server(name)
    with hub.open_notebook(name, "ch8/01_overfitting.ipynb") as kernel:
        reply = kernel.execute("1 + 1")
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
import websocket

REQUEST_S, SPAWN_S, CONNECT_S, CELL_S = 60, 120, 300, 600  # every wait is bounded


@dataclass
class Reply:
    """What one cell's execution gave: "ok" or "error", the error's name, the outputs as nbformat has them."""

    status: str
    ename: str = ""
    evalue: str = ""
    outputs: list[dict] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Return the cell's printed text and plain-text results, joined."""
        return "".join(out.get("text", "") or out.get("data", {}).get("text/plain", "") for out in self.outputs)


@dataclass
class Hub:
    """A class hub seen from outside: its public address, people's API tokens, the log to show on failure."""

    url: str
    log: Path | None = None
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> API token

    def tail(self, lines: int = 80) -> str:
        """Return the end of the hub's log (the hub, its services and every server write there)."""
        if self.log is None or not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

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

    def wait(self, what: str, ready: Callable[[], bool], timeout: float, every: float = 0.5) -> None:
        """Wait until ``ready()`` is true, at most ``timeout`` seconds; else fail with the hub's log."""
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not done after {timeout:.0f} s\n--- hub log ---\n{self.tail()}")
            time.sleep(every)

    def login(self, user: str, password: str) -> requests.Response:
        """Ask the hub for an API token with a user name and password (PAM); return the response."""
        return requests.post(f"{self.url}/hub/api/users/{user}/tokens", timeout=REQUEST_S,
                             json={"auth": {"username": user, "password": password}, "note": "class hub client"})

    def log_in(self, user: str, password: str) -> None:
        """Log ``user`` in with their password; keep their token for the calls made as them."""
        response = self.login(user, password)
        assert response.status_code in (200, 201), f"login {user}: HTTP {response.status_code} {response.text[:300]}"
        self.tokens[user] = response.json()["token"]

    def answers(self) -> bool:
        """Return whether the hub answers on its public address."""
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{self.url}/hub/api/", timeout=5).status_code == 200
        return False

    def spawn(self, user: str) -> None:
        """Ask the hub to start ``user``'s server (does not wait)."""
        response = self.call("POST", f"/hub/api/users/{user}/server", user)
        assert response.status_code in (201, 202), f"spawn {user}: HTTP {response.status_code} {response.text}"

    def server(self, user: str) -> dict:
        """Return the hub's model of ``user``'s server ({} when it has none)."""
        return self.ok("GET", f"/hub/api/users/{user}", user).get("servers", {}).get("", {})

    def wait_for_server(self, user: str, timeout: float = SPAWN_S, every: float = 0.5) -> None:
        """Wait until ``user``'s server is up; fail at once if the hub gives up starting it."""
        def ready() -> bool:
            server = self.server(user)
            if not server:
                raise AssertionError(f"the hub gave up starting {user}'s server\n--- hub log ---\n{self.tail()}")
            return bool(server.get("ready"))
        self.wait(f"server of {user}", ready, timeout, every)

    def stop_server(self, user: str) -> None:
        """Ask the hub to stop ``user``'s server (does not wait)."""
        response = self.call("DELETE", f"/hub/api/users/{user}/server", user)
        assert response.status_code in (202, 204), f"stop {user}: HTTP {response.status_code} {response.text}"

    def shutdown_kernels(self, user: str) -> None:
        """Shut down every kernel of ``user``'s server (JupyterLab's Shut Down All)."""
        for kernel in self.ok("GET", f"/user/{user}/api/kernels", user):
            self.call("DELETE", f"/user/{user}/api/kernels/{kernel['id']}", user)

    def open_notebook(self, user: str, path: str) -> Kernel:
        """Open notebook ``path`` in ``user``'s server as JupyterLab does (a session, its kernel); return the kernel."""
        session = self.ok("POST", f"/user/{user}/api/sessions", user,
                          json={"path": path, "name": Path(path).name, "type": "notebook", "kernel": {"name": "python3"}})
        return Kernel(self, user, session["kernel"]["id"])

    def read_notebook(self, user: str, path: str) -> dict:
        """Return notebook ``path`` of ``user``'s server (nbformat's JSON)."""
        return self.ok("GET", f"/user/{user}/api/contents/{path}", user)["content"]

    def save_notebook(self, user: str, path: str, notebook: dict) -> None:
        """Save notebook ``path`` in ``user``'s server, as JupyterLab's save does."""
        self.ok("PUT", f"/user/{user}/api/contents/{path}", user,
                json={"type": "notebook", "format": "json", "content": notebook})


class Kernel:
    """A kernel of a person's server, driven over its websocket (Jupyter's JSON messages)."""

    def __init__(self, hub: Hub, user: str, kernel_id: str):
        """Connect to the kernel's channels through the hub's proxy, with ``user``'s token.

        The server answers once the new kernel does: on a machine a whole class is loading, that can
        take minutes (JupyterLab meanwhile says "Connecting"), hence CONNECT_S.
        """
        self.hub, self.user, self.id = hub, user, kernel_id
        self.session = uuid.uuid4().hex
        url = hub.url.replace("http", "ws", 1) + f"/user/{user}/api/kernels/{kernel_id}/channels?session_id={self.session}"
        try:
            self.socket = websocket.create_connection(url, header=[f"Authorization: token {hub.tokens[user]}"],
                                                      timeout=CONNECT_S)
        except websocket.WebSocketException as error:
            raise AssertionError(f"{user}'s kernel {kernel_id}: no websocket after {CONNECT_S} s ({error})") from error

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the websocket (the kernel goes on running in the server)."""
        self.socket.close()

    def execute(self, code: str, timeout: float = CELL_S) -> Reply:
        """Run ``code`` in the kernel; return its reply and outputs once the kernel is idle again."""
        msg_id = uuid.uuid4().hex
        self.socket.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.user,
                       "session": self.session, "version": "5.3",
                       "date": dt.datetime.now(dt.timezone.utc).isoformat()},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        reply, idle, outputs = None, False, []
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.user}'s kernel gave no answer in {timeout:.0f} s to:\n{code[:500]}")
            self.socket.settimeout(max(0.1, deadline - time.monotonic()))
            raw = self.socket.recv()
            if not isinstance(raw, str):  # a message with binary buffers: no output of ours has them
                continue
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "execute_reply":
                reply = content
            elif kind == "status":
                idle = content["execution_state"] == "idle"
            elif kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append(_output(kind, content))
        return Reply(reply["status"], reply.get("ename", ""), reply.get("evalue", ""), outputs)


def _output(kind: str, content: dict) -> dict:
    """Return one iopub message as the notebook output JupyterLab would save."""
    if kind == "stream":
        return {"output_type": "stream", "name": content["name"], "text": content["text"]}
    if kind == "error":
        return {"output_type": "error", **{k: content[k] for k in ("ename", "evalue", "traceback")}}
    output = {"output_type": kind, "data": content["data"], "metadata": content.get("metadata", {})}
    if kind == "execute_result":
        output["execution_count"] = content["execution_count"]
    return output


def fill_in(notebook: dict, answers: dict[str, str]) -> dict:
    """Put ``answers`` ({grade_id: source}) into the cells of ``notebook`` (nbformat's JSON) they belong to; return it."""
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return notebook


def run_notebook(hub: Hub, user: str, path: str, answers: dict[str, str],
                 timeout: float = CELL_S) -> tuple[dict, list[Reply]]:
    """Fill ``answers`` ({grade_id: code}) into ``user``'s notebook, run it top to bottom, save it with its outputs.

    Returns the saved notebook and each code cell's reply; stops at the first cell that fails, as
    JupyterLab's Run All does.
    """
    notebook = fill_in(hub.read_notebook(user, path), answers)
    replies = []
    with hub.open_notebook(user, path) as kernel:
        for cell in notebook["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            reply = kernel.execute(source, timeout)
            cell["outputs"], cell["execution_count"] = reply.outputs, len(replies) + 1
            replies.append(reply)
            if reply.status != "ok":
                break
    hub.save_notebook(user, path, notebook)
    return notebook, replies
