"""Hostile XML is refused before it can read files, reach the network or expand entities."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
from engine_support import simple, user
from lxml import etree

from engine import xml_safety
from engine.definitions import compile_process
from engine.errors import BpmnError
from engine.xml_safety import MAX_BPMN_BYTES, load_xml

BPMN_NS = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'


def _doc_with_doctype(doctype: str, body: str = "&x;") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"{doctype}\n"
        f'<bpmn:definitions {BPMN_NS} id="d" targetNamespace="t">\n'
        f'  <bpmn:process id="P" isExecutable="true"><bpmn:documentation>{body}</bpmn:documentation>'
        '<bpmn:startEvent id="S"/></bpmn:process>\n'
        "</bpmn:definitions>\n"
    ).encode()


def test_xxe_file_read_is_refused_and_nothing_is_read() -> None:
    doc = _doc_with_doctype('<!DOCTYPE bpmn:definitions [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
    with pytest.raises(BpmnError) as err:
        compile_process({"xxe.bpmn": doc})
    assert err.value.code == "doctype"
    assert err.value.filename == "xxe.bpmn"
    assert err.value.line == 2
    assert "root:" not in str(err.value)


def test_parser_itself_never_resolves_external_entities(tmp_path) -> None:
    # Second line of defence: even if the byte screen were bypassed, the parser must not read the file.
    secret = tmp_path / "secret.txt"
    secret.write_text("LEAKED-SECRET")
    doc = f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode()
    try:
        root = etree.fromstring(doc, parser=xml_safety._parser())
    except etree.XMLSyntaxError:
        return  # refusing is fine too
    assert "LEAKED-SECRET" not in etree.tostring(root, encoding="unicode")


def test_billion_laughs_is_refused_before_expansion() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    doc = _doc_with_doctype(f"<!DOCTYPE bpmn:definitions [{entities}]>", body="&lol9;")
    started = time.monotonic()
    with pytest.raises(BpmnError) as err:
        load_xml(doc, "lol.bpmn")
    assert err.value.code == "doctype"
    assert time.monotonic() - started < 1.0


def test_external_dtd_is_refused_without_any_network_access() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    connections: list[object] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # the timeout: nobody connected, as it should be
            connections.append(listener.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    doc = _doc_with_doctype(
        f'<!DOCTYPE bpmn:definitions SYSTEM "http://127.0.0.1:{port}/evil.dtd">', body="x"
    )
    with pytest.raises(BpmnError) as err:
        load_xml(doc, "dtd.bpmn")
    thread.join()
    listener.close()
    assert err.value.code == "doctype"
    assert connections == []


def test_lowercase_or_spaced_declarations_are_screened_too() -> None:
    with pytest.raises(BpmnError) as err:
        load_xml(b"<!doctype x><x/>", "a.bpmn")
    assert err.value.code == "doctype"


@pytest.mark.parametrize(
    "data",
    [
        "<r/>".encode("utf-16"),
        b'<?xml version="1.0" encoding="UTF-7"?><r/>',
        b"<r>\x00</r>",
    ],
    ids=["utf-16", "utf-7", "nul-byte"],
)
def test_encodings_the_screen_cannot_read_are_refused(data: bytes) -> None:
    with pytest.raises(BpmnError) as err:
        load_xml(data, "enc.bpmn")
    assert err.value.code == "encoding"


def test_multi_megabyte_file_is_refused_before_parsing() -> None:
    big = simple(user("U", doc="x" * (3 * 1024 * 1024)))
    assert len(big) > MAX_BPMN_BYTES
    started = time.monotonic()
    with pytest.raises(BpmnError) as err:
        compile_process({"big.bpmn": big})
    assert err.value.code == "too_large"
    assert err.value.filename == "big.bpmn"
    assert time.monotonic() - started < 0.5


def test_size_limit_is_configurable() -> None:
    with pytest.raises(BpmnError) as err:
        load_xml(b"<r>" + b"x" * 100 + b"</r>", "small.bpmn", max_bytes=50)
    assert err.value.code == "too_large"


def test_malformed_xml_names_file_and_line() -> None:
    doc = b'<?xml version="1.0"?>\n<a>\n  <b>\n</a>\n'
    with pytest.raises(BpmnError) as err:
        load_xml(doc, "broken.bpmn")
    assert err.value.code == "xml"
    assert err.value.filename == "broken.bpmn"
    assert err.value.line == 4
    assert "broken.bpmn" in str(err.value) and "第 4 行" in str(err.value) and "line 4" in str(err.value)


def test_well_formed_bpmn_loads() -> None:
    tree = load_xml(simple(user("U")), "ok.bpmn")
    assert tree.getroot().tag.endswith("definitions")
    assert tree.docinfo.doctype == ""
