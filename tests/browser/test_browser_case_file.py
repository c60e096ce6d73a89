"""The case file page in Chromium: the inline previews really load inside our page (an image, a PDF in a
frame) under the pages' CSP and the files' framing headers, and nothing is refused on the console."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from pypdf import PdfWriter

from app import uow_for
from services import cases, files
from services.actors import Actor
from services.demo import DEMO_PASSWORD
from services.files import Upload
from storage.models import CaseMaterial

pytestmark = pytest.mark.browser


def _png() -> bytes:
    """A real 2×2 PNG (the preview must decode it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_previews_load_in_the_case_file(live_app, page):
    registration = cases.register_case(
        uow_for(live_app), matter_code="m01", applicant=cases.Applicant(name="吉林某化工有限公司"),
        channel="window", delivery_mode="post", actor=Actor("window1", roles=frozenset({"window"})),
        data={"report_type": "report"})
    case_id = registration.case_id
    with uow_for(live_app) as unit:
        uploads = ((_png(), "现场照片.png", "other"), (_pdf(), "申请书.pdf", "application_form"))
        stored = [files.receive(unit, Upload(io.BytesIO(data), name, "测试"), actor="window1", purpose="material",
                                case_id=case_id, item_code=item)
                  for data, name, item in uploads]
        unit.session.flush()  # the file rows first: case_materials refers to them
        for row in stored:
            unit.session.add(CaseMaterial(case_id=case_id, item_code=row.item_code, file_id=row.id,
                                          stage="application", channel="window", received_by="window1",
                                          label="现场照片" if row.item_code == "other" else None))
        unit.commit()

    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
    frames: list[tuple[str, int]] = []
    page.on("response", lambda r: frames.append((r.url, r.status)) if "/files/" in r.url else None)
    page.goto(f"{live_app.base_url}/login")
    page.fill("#username", "window1")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit].primary")
    page.goto(f"{live_app.base_url}/cases/{case_id}")
    page.click("#case-file-link")
    page.wait_for_url(f"**/cases/{case_id}/file")
    for summary in page.locator("details.cf-preview > summary").all():
        summary.click()
    image = page.locator("details.cf-preview img")
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth === 2", arg=image.element_handle())
    frame = page.frame_locator("details.cf-preview iframe")
    assert frame is not None
    page.wait_for_timeout(1000)
    assert all(status == 200 for _, status in frames) and len(frames) >= 2, frames
    assert not [t for t in refused if "Refused" in t or "Content Security Policy" in t or "frame" in t], refused
