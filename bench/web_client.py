"""A small HTTP client for driving a running server as its users do (benchmarks, multi-process tests):
a cookie session, the CSRF token of the signed-in session, form posts, and a server started as a subprocess.
Standard library only.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_COOKIE = re.compile(r"^\s*([^=;\s]+)=([^;]*)")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


def form_body(data: Mapping[str, Any]) -> str:
    """A form as a browser sends it: lists repeat their key, True is a ticked box, False and None are absent."""
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        if value is None or value is False:
            continue
        if value is True:
            pairs.append((key, "y"))
        elif isinstance(value, list | tuple):
            pairs.extend((key, str(item)) for item in value)
        else:
            pairs.append((key, str(value)))
    return urlencode(pairs)


class WebClient:
    """One user's browser: cookies and the CSRF token; one keep-alive connection unless `keep_alive=False`."""

    def __init__(self, host: str, port: int, keep_alive: bool = True, timeout: float = 60.0) -> None:
        self.host, self.port, self.keep_alive, self.timeout = host, port, keep_alive, timeout
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, data: Mapping[str, Any] | None = None) -> Response:
        headers = {"Accept-Language": "zh-CN"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = form_body({"csrf_token": self.csrf, **data}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if not self.keep_alive:
            headers["Connection"] = "close"
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                raw = conn.getresponse()
                text = raw.read().decode("utf-8", "replace")
                break
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        for name, value in raw.getheaders():
            if name.lower() == "set-cookie":
                match = _COOKIE.match(value)
                if match:
                    self.cookies[match.group(1)] = match.group(2)
        if not self.keep_alive or raw.getheader("connection", "").lower() == "close":
            self.close()
        found = _CSRF.search(text)
        if found:
            self.csrf = found.group(1)
        return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, text)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, data: Mapping[str, Any]) -> Response:
        return self.request("POST", path, data)

    def login(self, username: str, password: str) -> None:
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        if response.status != 302:
            raise RuntimeError(f"sign-in of {username} failed: {response.status}")
        self.get("/")  # the signed-in session's CSRF token (sign-in starts a fresh session)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(port: int, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/login")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer on port {port} within {timeout:g} s")


@contextmanager
def running(args: list[str], env: Mapping[str, str], *, port: int | None = None,
            log: Path | None = None) -> Iterator[subprocess.Popen]:
    """`python app.py <args>` as a subprocess in the repository (stdout and stderr to `log`); waits until it
    serves on `port` (when given); stopped with SIGTERM (then SIGKILL) on the way out."""
    out = open(log, "w") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "app.py", *args], cwd=ROOT, env={**os.environ, **env},
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if port is not None:
            wait_until_serving(port, process)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if log is not None:
            out.close()
