"""Official documents get their PDF after the command that issued them has committed.

The issuing command numbers the document and fixes its page (documents.render.render_html, a few
milliseconds) inside its own write transaction; WeasyPrint's layout and font subsetting (0.1–0.15 s a page)
run afterwards in a worker process (an engine.pool job in a pool of its own, `_render_pool`, so never on a
web or scheduler thread's CPU and never under the diagram steps' memory limit), and a second short
transaction stores the PDF in the file store with its sha256 and a `document.issued` audit event. So no
write transaction — and on SQLite no database write lock — waits for a PDF.

Who renders a pending document:
- the process that issued it, right after the commit: in its background thread (`background`, the default) or
  before the command returns (`inline`: the test suite and one-shot CLI commands use it);
- anyone about to show or serve a case's documents (`settle`), so a page never lists a document without it;
- the scheduler's sweep, for documents whose issuing process stopped before it rendered them.
Two renderers of one document do no harm: the PDF is stored by `UPDATE … WHERE file_id IS NULL`, and the
one that finds it done rolls back.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from engine.jobs import JobRequest
from engine.pool import EnginePool, JobFailed, PoolBusy, PoolSettings, WorkerLost
from services import audit_log
from services.actors import Actor
from services.uow import UnitOfWork
from storage.models import Document
from storage.types import utcnow

log = logging.getLogger(__name__)

PDF = "application/pdf"
BACKGROUND, INLINE = "background", "inline"
MODES = (BACKGROUND, INLINE)
RENDER_DEADLINE = 60.0  # wall-clock seconds for one PDF in a worker (a page takes a fraction of a second)
SETTLE_TIMEOUT = 30.0  # how long a page waits for a document another thread is rendering
SWEEP_AGE = timedelta(seconds=30)  # the sweep leaves younger documents to the process that issued them
SWEEP_BATCH = 50

RENDERER = Actor.system("documents")

_mode: str | None = None


def configure(mode: str | None) -> None:
    """background | inline; None: from DOCUMENTS_RENDER in the environment (default background)."""
    global _mode
    if mode is not None and mode not in MODES:
        raise ValueError(f"DOCUMENTS_RENDER must be one of {', '.join(MODES)}, not {mode!r}")
    _mode = mode


@contextlib.contextmanager
def inline() -> Iterator[None]:
    """Render before each command returns while this block runs (this process): a simulated history keeps every
    document's PDF and event at its simulated time, which a background thread would not see."""
    global _mode
    before, _mode = _mode, INLINE
    try:
        yield
    finally:
        _mode = before


def mode() -> str:
    chosen = _mode or os.environ.get("DOCUMENTS_RENDER") or BACKGROUND
    return chosen if chosen in MODES else BACKGROUND


# ---------------------------------------------------------------------------------------------------- rendering

# When a render last failed in this process, by document id: a page view does not try again within
# RETRY_AFTER (it would only wait for the same failure); the sweep does.
_failures: dict[int, float] = {}
_failures_lock = threading.Lock()
RETRY_AFTER = 60.0


def _failed_recently(document_id: int) -> bool:
    with _failures_lock:
        at = _failures.get(document_id)
    return at is not None and time.monotonic() - at < RETRY_AFTER


@dataclass(frozen=True)
class _Pending:
    id: int
    case_id: int
    kind: str
    title: str
    number: str
    issued_by: str
    html: str


# PDFs have a pool of their own: WeasyPrint (Pango, fontconfig, a CJK font) needs more memory than a diagram
# step should ever get, and the engine's workers stay small; the limits of diagram code (ENGINE_*) are not the
# limits of rendering. One worker per process by default; DOCUMENTS_WORKERS / DOCUMENTS_MEMORY_MB change it.
_pool: EnginePool | None = None
_pool_lock = threading.Lock()


# Rendering is background work that nobody waits for as it happens (a page that needs a PDF waits for it
# through `settle`): its worker yields the CPU to the commands' engine steps (nice 10) and to the web.
RENDER_NICE = 19


def _render_pool() -> EnginePool:
    global _pool
    with _pool_lock:
        if _pool is None or _pool.closed or _pool.pid != os.getpid():
            memory = int(os.environ.get("DOCUMENTS_MEMORY_MB") or 2048)
            _pool = EnginePool(PoolSettings(
                workers=max(1, int(os.environ.get("DOCUMENTS_WORKERS") or 1)), deadline=RENDER_DEADLINE,
                cpu_seconds=int(RENDER_DEADLINE), memory_mb=memory if memory > 0 else None,
                acquire_timeout=RENDER_DEADLINE, nice=RENDER_NICE))
        return _pool


def _pdf(html: str) -> bytes:
    return _render_pool().call(JobRequest("documents.render:html_to_pdf", (html,)))


def render_one(uow: UnitOfWork, document_id: int) -> bool:
    """Render and store one pending document; False when there was nothing to do (already rendered, or someone
    else stored it meanwhile) or the render failed (logged; the document stays pending for the sweep)."""
    uow = UnitOfWork(uow.session_factory, files=uow.files)  # this thread's own session
    with uow.reader() as r:
        row = r.session.execute(
            select(Document.id, Document.case_id, Document.kind, Document.title, Document.number,
                   Document.issued_by, Document.pending_html)
            .where(Document.id == document_id, Document.file_id.is_(None))
        ).one_or_none()
    if row is None or not row.pending_html:
        return False
    pending = _Pending(*row)
    try:
        pdf = _pdf(pending.html)
    except (WorkerLost, JobFailed, PoolBusy) as err:
        log.warning("document %s (%s) could not be rendered yet: %s", pending.number, pending.id, err)
        with _failures_lock:
            _failures[pending.id] = time.monotonic()
        return False
    sha256 = hashlib.sha256(pdf).hexdigest()
    from services.files import store_bytes

    with uow:
        session = uow.session
        # The stored name is the download's name: "受理通知书-吉环受字〔2018〕第1号.pdf".
        stored = store_bytes(uow, pdf, name=f"{pending.title}-{pending.number}.pdf", media_type=PDF,
                             case_id=pending.case_id, actor=pending.issued_by, purpose="document",
                             item_code=pending.kind)
        session.flush()
        taken = session.execute(
            update(Document).where(Document.id == pending.id, Document.file_id.is_(None))
            .values(file_id=stored.id, sha256=sha256, pending_html=None, rendered_at=utcnow())
        ).rowcount
        if taken != 1:
            return False  # rendered by someone else meanwhile: roll back this copy's row
        audit_log.record(session, RENDERER, "document.issued", case_id=pending.case_id,
                         document={"document_id": pending.id, "kind": pending.kind, "number": pending.number,
                                   "file_id": stored.id, "sha256": sha256, "size": len(pdf)},
                         issued_by=pending.issued_by)
        uow.commit()
    with _failures_lock:
        _failures.pop(pending.id, None)  # a document rendered at last is no longer remembered as failing
    return True


# ---------------------------------------------------------------------------------------------------- scheduling

class _Background:
    """One thread per process that renders what this process issued, in issue order. It mostly waits for a
    worker's answer, so it costs the web threads little; `inflight` lets a page wait for a render under way
    instead of starting a second one."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="documents")
        self.lock = threading.Lock()
        self.inflight: dict[int, Future] = {}

    def submit(self, uow: UnitOfWork, document_id: int) -> None:
        with self.lock:
            if document_id in self.inflight:
                return
            future = self.executor.submit(self._run, uow, document_id)
            self.inflight[document_id] = future

    def _run(self, uow: UnitOfWork, document_id: int) -> bool:
        try:
            return render_one(uow, document_id)
        except Exception:  # noqa: BLE001 - a background thread must not die; the sweep retries
            log.exception("rendering document %s failed", document_id)
            return False
        finally:
            with self.lock:
                self.inflight.pop(document_id, None)

    def future(self, document_id: int) -> Future | None:
        with self.lock:
            return self.inflight.get(document_id)

    def pending(self) -> list[Future]:
        with self.lock:
            return list(self.inflight.values())


_background: _Background | None = None
_background_lock = threading.Lock()


def _queue() -> _Background:
    global _background
    with _background_lock:
        if _background is None or _background.pid != os.getpid():  # a forked server worker makes its own
            _background = _Background()
        return _background


def after_commit(uow: UnitOfWork, document_ids: Iterable[int]) -> None:
    """Call after the issuing command committed."""
    ids = list(document_ids)
    if not ids:
        return
    if mode() == INLINE:
        for document_id in ids:
            render_one(uow, document_id)
        return
    queue = _queue()
    for document_id in ids:
        queue.submit(uow, document_id)


def settle(uow: UnitOfWork, case_id: int, timeout: float = SETTLE_TIMEOUT) -> None:
    """Before a case's documents are shown or served: wait for renders under way, render what is left."""
    with uow.reader() as r:
        ids = list(r.session.execute(
            select(Document.id).where(Document.case_id == case_id, Document.file_id.is_(None))
            .order_by(Document.id)
        ).scalars())
    for document_id in ids:
        future = _queue().future(document_id)
        if future is not None:
            with contextlib.suppress(FutureTimeout):
                future.result(timeout=timeout)
            continue
        if not _failed_recently(document_id):
            render_one(uow, document_id)


def sweep(uow: UnitOfWork, now: datetime | None = None) -> int:
    """The scheduler's job: render documents left pending for longer than SWEEP_AGE (their issuing process
    stopped, or a render failed). Returns how many were stored."""
    cutoff = (now or utcnow()) - SWEEP_AGE
    with uow.reader() as r:
        ids = list(r.session.execute(
            select(Document.id).where(Document.file_id.is_(None), Document.issued_at <= cutoff)
            .order_by(Document.id).limit(SWEEP_BATCH)
        ).scalars())
    queue = _queue()
    return sum(1 for document_id in ids if queue.future(document_id) is None and render_one(uow, document_id))


def drain(timeout: float = 120.0) -> None:
    """Wait until this process's background renders are done (benchmarks, one-shot commands, tests)."""
    for future in _queue().pending():
        with contextlib.suppress(FutureTimeout):
            future.result(timeout=timeout)


# ---------------------------------------------------------------------------------------------------- pages

_pages: OrderedDict[str, bytes] = OrderedDict()
_pages_lock = threading.Lock()
PAGES_CACHED = 64


def page_pdf(html: str) -> tuple[bytes, str]:
    """A printable page that is not an issued document (a service guide, a blank application form): its PDF
    and sha256, made in a rendering worker and kept by the page's content hash, so the public's repeated
    downloads cost the web process nothing and a changed page (catalog, language) is made anew."""
    key = hashlib.sha256(html.encode("utf-8", "surrogatepass")).hexdigest()
    with _pages_lock:
        hit = _pages.get(key)
        if hit is not None:
            _pages.move_to_end(key)
    if hit is None:
        hit = _pdf(html)
        with _pages_lock:
            _pages[key] = hit
            while len(_pages) > PAGES_CACHED:
                _pages.popitem(last=False)
    return hit, hashlib.sha256(hit).hexdigest()
