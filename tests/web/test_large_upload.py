"""A 200 MB EIA report passes through the applicant's online application and a handler's task form of a real
server, with the server's memory growing by less than 50 MB: uploads are streamed to disk in chunks, hashed on
the way, and only a reference reaches the workflow and the audit log."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
SIZE = 200 * 1024 * 1024
GROWTH_LIMIT = 50 * 1024 * 1024
HEAD = b"%PDF-1.7\n% a large EIA report\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[int, psutil.Process, Path]]:
    base = tmp_path_factory.mktemp("large")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{base / 'runonce.db'}", "FILES_DIR": str(base / "files"),
           "SCHEDULER_ENABLED": "0", "SECRET_KEY": "large-upload-test"}
    proc = subprocess.Popen([sys.executable, "app.py", "serve", "--port", str(port), "--threads", "2"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode(errors="replace")) from None
            time.sleep(0.3)
    yield port, psutil.Process(proc.pid), base

    proc.terminate()
    proc.wait(timeout=20)


class Browser:
    """Just enough of a browser: a cookie jar, CSRF tokens from pages, streamed multipart bodies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _keep(self, response: http.client.HTTPResponse) -> None:
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]

    def request(self, method: str, path: str, body=None, headers=None) -> tuple[int, str, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request(method, path, body=body, headers={**self._headers(), **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        self._keep(response)
        conn.close()
        return response.status, data.decode(errors="replace"), dict(response.headers)

    def token(self, path: str) -> str:
        status, page, _ = self.request("GET", path)
        assert status == 200, page[:500]
        return _hidden(page, "csrf_token")

    def post_multipart(self, path: str, fields: dict[str, str], file_field: str, filename: str, size: int):
        boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        ) + (f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
             "Content-Type: application/pdf\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        digest = hashlib.sha256()

        def body() -> Iterator[bytes]:
            yield head
            digest.update(HEAD)
            yield HEAD
            left, block = size - len(HEAD), b"\x00" * (1024 * 1024)
            while left > 0:
                chunk = block[: min(left, len(block))]
                digest.update(chunk)
                left -= len(chunk)
                yield chunk
            yield tail

        length = len(head) + size + len(tail)
        status, page, headers = self.request("POST", path, body=body(), headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length)})
        return status, page, headers, digest.hexdigest()


def _peak_rss_during(process: psutil.Process, action) -> tuple[int, int, object]:
    baseline = process.memory_info().rss
    peak = [baseline]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = action()
    finally:
        done.set()
        watcher.join()
    return baseline, peak[0], result


def _hidden(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
    return re.search(r'value="([^"]*)"', tag).group(1)


def _stored(files_dir: Path, sha256: str) -> Path:
    return files_dir / "objects" / sha256[:2] / sha256[2:4] / sha256


APPLICANT = {"applicant_name": "吉林某化工有限公司", "applicant_credit_code": "91220000123456789K",
             "applicant_contact": "张三", "applicant_phone": "13912345678", "applicant_email": "a@example.cn",
             "applicant_address": "长春市", "delivery_mode": "post", "report_type": "report"}


def test_a_200_mb_report_through_the_online_application_and_a_task_form(server):
    port, process, base = server
    files_dir = base / "files"
    applicant = Browser(port)
    # Warm up: the first request loads templates and the catalog; that is not the upload's cost.
    applicant.token("/public/apply/m01")
    from workflows.catalog import shipped_catalog

    small = {f"material__{i.code}": i for i in shipped_catalog().matter("m01").materials if i.required}
    big_item = "material__eia_document"
    assert big_item in small
    fields = {"csrf_token": applicant.token("/public/apply/m01"), **APPLICANT}

    # Every other required item must come too; send them first as kept files of this browser session.
    for name in small:
        if name == big_item:
            continue
        status, page, _h, _d = applicant.post_multipart("/public/apply/m01", {**fields, "applicant_email": "x"},
                                                        name, "附件.pdf", 1024)
        assert status == 422
        kept = re.search(rf'name="{name}__kept" value="([0-9a-f]{{32}})"', page).group(1)
        fields[f"{name}__kept"] = kept

    baseline, peak, result = _peak_rss_during(
        process, lambda: applicant.post_multipart("/public/apply/m01", fields, big_item, "环境影响报告书.pdf", SIZE))
    status, page, headers, sha = result
    assert status == 302, page[:3000]
    print(f"RSS growth during the upload: {(peak - baseline) / 2**20:.1f} MB")
    assert peak - baseline < GROWTH_LIMIT, f"RSS grew by {(peak - baseline) / 2**20:.1f} MB"
    assert _stored(files_dir, sha).stat().st_size == SIZE

    # The window receives a 200 MB supplement in its task form (接收补正材料).
    reference = re.search(r'id="reference">([^<]+)<', applicant.request("GET", "/public/submitted")[1]).group(1)
    clerk = Browser(port)
    login = {"csrf_token": clerk.token("/login"), "username": "window1", "password": "runonce-demo"}
    body = urlencode(login)
    assert clerk.request("POST", "/login", body=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})[0] == 302

    def task_id(spec: str) -> str:
        with sqlite3.connect(base / "runonce.db") as db:
            return db.execute("SELECT t.id FROM human_tasks t JOIN cases c ON c.id = t.case_id "
                              "WHERE c.reference = ? AND t.state = 'ready' AND t.spec_name = ?",
                              (reference, spec)).fetchone()[0]

    def claimed(spec: str) -> str:
        tid = task_id(spec)
        page = clerk.request("GET", f"/tasks/{tid}")[1]
        body = urlencode({"csrf_token": _hidden(page, "csrf_token")})
        status = clerk.request("POST", f"/tasks/{tid}/claim", body=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})[0]
        assert status in (302, 303)
        return tid

    def complete(spec: str, answers: dict[str, str]) -> None:
        tid = claimed(spec)
        status, page, _ = clerk.request("GET", f"/tasks/{tid}")
        assert status == 200, (status, page[:1000])
        token = _hidden(page, "csrf_token")
        version = _hidden(page, "expected_version")
        form = {"csrf_token": token, "expected_version": version, **answers}
        status, page, _ = clerk.request("POST", f"/tasks/{tid}", body=urlencode(form),
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302, page[:2000]

    complete("check_materials", {"received_date": "2026-12-01", "intake_result": "incomplete"})
    complete("notify_supplement", {"missing_items": "application_form", "missing_items_detail": "申请书需盖章。",
                                   "notice_date": "2026-12-01"})
    tid = claimed("receive_supplement")
    status, page, _ = clerk.request("GET", f"/tasks/{tid}")
    token = _hidden(page, "csrf_token")
    version = _hidden(page, "expected_version")
    answers = {"csrf_token": token, "expected_version": version, "supplement_outcome": "submitted",
               "supplement_received_date": "2026-12-02", "supplement_channel": "post"}
    baseline, peak, result = _peak_rss_during(
        process, lambda: clerk.post_multipart(f"/tasks/{tid}", answers, "supplement_files", "补正报告书.pdf", SIZE))
    status, page, headers, sha = result
    assert status == 302, page[:3000]
    print(f"RSS growth during the upload: {(peak - baseline) / 2**20:.1f} MB")
    assert peak - baseline < GROWTH_LIMIT, f"RSS grew by {(peak - baseline) / 2**20:.1f} MB"
    assert _stored(files_dir, sha).stat().st_size == SIZE
