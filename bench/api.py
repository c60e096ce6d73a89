"""The integration API over HTTP against the service layer, in one run: submissions/s and status reads/s with
1 and 4 clients.

- http: `python app.py serve` (waitress, one process) in a subprocess on its own SQLite file; each client sends
  ``POST /api/v1/applications`` (multipart: the m07 application JSON and its three required PDFs, an
  Idempotency-Key each) and ``GET /api/v1/cases/{reference}`` with a bearer token: authentication, the rate
  counter and the audited call are part of what is measured;
- service: the same number of threads call the service layer directly (files.receive for the three files,
  services.cases.register_case; services.applicant.view for a status read) on a SQLite file of its own.
Rounds alternate between the sides, so a slow spell of the shared machine hits both.

    .venv/bin/python -m bench.api [--submissions 40] [--reads 400] [--rounds 2]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from bench.web_client import free_port, running
from services import api_clients, applicant, cases, demo, files, materials
from services.actors import Actor
from services.uow import UnitOfWork
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Case
from workflows.catalog import shipped_catalog

ROOT = Path(__file__).resolve().parent.parent
MATTER = "m07"
PDF = b"%PDF-1.4\n% bench material\n" + b"0" * 20_000 + b"\n%%EOF\n"
APPLICATION = {
    "matter_code": MATTER,
    "applicant": {"name": "吉林某核技术应用有限公司", "credit_code": "91220000123456789K", "contact": "王经理",
                  "phone": "043188886666", "address": "长春市人民大街 1 号"},
    "delivery_mode": "post",
}
ENV = {"RUNONCE_PASSWORD_HASH": "pbkdf2:sha256:1000", "SCHEDULER_ENABLED": "0"}


def _items() -> list[str]:
    return [i.code for i in shipped_catalog().matter(MATTER).materials if i.required]


def _seeded(url: str) -> UnitOfWork:
    engine = make_engine(url)
    upgrade(engine)
    uow = UnitOfWork(make_session_factory(engine))
    demo.seed(uow, ROOT / "workflows")
    return uow


# ---------------------------------------------------------------- the HTTP side


def _multipart(items: list[str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="application"\r\n'
             f"Content-Type: application/json\r\n\r\n".encode() + json.dumps(APPLICATION).encode() + b"\r\n"]
    for code in items:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="material:{code}"; '
                     f'filename="{code}.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode() + PDF + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class ApiClient:
    """One keep-alive connection with the client's token."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
                ) -> tuple[int, bytes]:
        self.conn.request(method, path, body=body, headers={"Authorization": f"Bearer {self.token}",
                                                           **(headers or {})})
        response = self.conn.getresponse()
        return response.status, response.read()

    def submit(self, items: list[str]) -> str:
        body, content_type = _multipart(items)
        status, answer = self.request("POST", "/api/v1/applications", body,
                                      {"Content-Type": content_type, "Idempotency-Key": uuid.uuid4().hex})
        if status != 201:
            raise RuntimeError(f"submission answered {status}: {answer[:300]!r}")
        return json.loads(answer)["reference"]

    def status(self, reference: str) -> None:
        status, answer = self.request("GET", f"/api/v1/cases/{reference}")
        if status != 200:
            raise RuntimeError(f"status read answered {status}: {answer[:300]!r}")


# ---------------------------------------------------------------- the service side


def service_submit(uow: UnitOfWork, items: list[str]) -> int:
    token = uuid.uuid4().hex
    with uow:
        stored = [(code, files.receive(uow, files.Upload(io.BytesIO(PDF), f"{code}.pdf", code), actor="bench",
                                       purpose="material", owner_token=token)) for code in items]
        uow.session.flush()
        uow.commit()
        received = [materials.Received(code, file_id=row.id) for code, row in stored]
    a = APPLICATION["applicant"]
    return cases.register_case(
        uow, matter_code=MATTER, channel="online", delivery_mode="post", received=received, owner_token=token,
        applicant=cases.Applicant(name=a["name"], credit_code=a["credit_code"], contact=a["contact"],
                                  phone=a["phone"], address=a["address"]),
        actor=Actor(username="api:bench", roles=frozenset({"applicant"}))).case_id


def service_status(uow: UnitOfWork, case_id: int) -> None:
    with uow.reader() as r:
        applicant.view(r.session, r.session.get(Case, case_id))


# ---------------------------------------------------------------- driving


def run_threads(total: int, clients: int, one: Callable[[int, int], None]) -> float:
    """``clients`` threads share ``total`` calls of ``one(thread, n)``; returns the calls per second."""
    counter = iter(range(total))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(index: int) -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            try:
                one(index, n)
            except BaseException as exc:  # noqa: BLE001 - reported after the run
                errors.append(exc)
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return total / elapsed


def measure(port: int, token: str, service_uow: UnitOfWork, items: list[str], clients: int,
            opts: argparse.Namespace) -> tuple[int, list[float], list[float], list[float], list[float]]:
    """Both sides with ``clients`` threads, rounds alternating: (clients, submit http/s, service/s, read
    http/s, service/s), one figure per round."""
    conns = [ApiClient(port, token) for _ in range(clients)]
    units = [UnitOfWork(service_uow.session_factory, files=service_uow.files) for _ in range(clients)]
    references: list[str] = []
    case_ids: list[int] = []
    conns[0].submit(items)  # warm-up: templates, engine worker
    service_submit(units[0], items)
    sub_http, sub_service, read_http, read_service = [], [], [], []
    per_round_submissions, per_round_reads = opts.submissions // opts.rounds, opts.reads // opts.rounds
    for _ in range(opts.rounds):
        sub_service.append(run_threads(per_round_submissions, clients,
                                       lambda i, _n: case_ids.append(service_submit(units[i], items))))
        sub_http.append(run_threads(per_round_submissions, clients,
                                    lambda i, _n: references.append(conns[i].submit(items))))
        read_service.append(run_threads(per_round_reads, clients,
                                        lambda i, n: service_status(units[i], case_ids[n % len(case_ids)])))
        read_http.append(run_threads(per_round_reads, clients,
                                     lambda i, n: conns[i].status(references[n % len(references)])))
    return clients, sub_http, sub_service, read_http, read_service


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=40, help="submissions per side, per client count")
    parser.add_argument("--reads", type=int, default=400, help="status reads per side, per client count")
    parser.add_argument("--rounds", type=int, default=2)
    opts = parser.parse_args(argv)
    os.environ.update(ENV)
    items = _items()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FILES_DIR"] = str(Path(tmp) / "files")
        service_uow = _seeded(f"sqlite:///{Path(tmp) / 'service.db'}")
        http_url = f"sqlite:///{Path(tmp) / 'http.db'}"
        token = api_clients.create(_seeded(http_url), "bench", list(api_clients.SCOPES), Actor.system("bench"),
                                   rate_per_minute=10_000_000).token
        port = free_port()
        env = {**ENV, "DATABASE_URL": http_url, "SECRET_KEY": "bench-" + os.urandom(8).hex(),
               "FILES_DIR": str(Path(tmp) / "files-http")}
        with running(["serve", "--port", str(port), "--threads", "8"], env, port=port, log=Path(tmp) / "server.log"):
            rows = [measure(port, token, service_uow, items, clients, opts) for clients in (1, 4)]
        with UnitOfWork(make_session_factory(make_engine(http_url)), write=False) as r:
            made = len(r.session.execute(select(Case.id).where(Case.created_by == "api:bench")).all())
    print(f"m07 submissions (3 PDFs of {len(PDF) // 1024} KB) and status reads; SQLite; {opts.rounds} rounds "
          f"alternating; {made} cases made over HTTP")
    print(f"{'clients':>7} | {'submit http/s':>13} {'service/s':>9} {'ratio':>6} | {'read http/s':>11} "
          f"{'service/s':>9} {'ratio':>6}")
    for clients, sh, ss, rh, rs in rows:
        sub_h, sub_s, read_h, read_s = (sum(v) / len(v) for v in (sh, ss, rh, rs))
        print(f"{clients:>7} | {sub_h:>13.1f} {sub_s:>9.1f} {sub_h / sub_s:>6.0%} | {read_h:>11.1f} "
              f"{read_s:>9.1f} {read_h / read_s:>6.0%}")


if __name__ == "__main__":
    main()
