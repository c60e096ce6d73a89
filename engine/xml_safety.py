"""Parse uploaded XML without letting it reach files, the network or unbounded memory.

BPMN never needs a DTD, so any DOCTYPE is refused outright: that closes XXE (external entities),
billion laughs (nested internal entities) and external DTD fetches in one rule. The byte-level screen runs
before lxml sees the document, so a hostile entity never gets a chance to expand.
"""

from __future__ import annotations

import re

from lxml import etree

from .errors import CODE_DOCTYPE, CODE_ENCODING, CODE_TOO_LARGE, CODE_XML, BpmnError

MAX_BPMN_BYTES = 2 * 1024 * 1024

# Case-insensitive so that no spelling slips through; real XML only knows the upper-case form.
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

# UTF-16/32 byte order marks: in those encodings the ASCII screen above would see nothing.
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")

# Only encodings in which "<!DOCTYPE" is the same bytes as in ASCII; UTF-7 for instance could hide it.
_XML_DECL_ENCODING = re.compile(
    rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']"""
)
_ALLOWED_ENCODINGS = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "gbk", "gb2312", "gb18030"}
)


def _parser() -> etree.XMLParser:
    # A new parser per call: lxml parsers keep state and are not meant to be shared between threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def _screen(data: bytes, filename: str, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise BpmnError(
            CODE_TOO_LARGE,
            f"文件过大（{len(data)} 字节，上限 {max_bytes} 字节）",
            f"file too large ({len(data)} bytes, limit {max_bytes} bytes)",
            filename=filename,
        )
    declared = _XML_DECL_ENCODING.match(data)
    declared_ok = declared is None or declared.group(1).decode("ascii").lower() in _ALLOWED_ENCODINGS
    if data.startswith(_WIDE_BOMS) or b"\x00" in data or not declared_ok:
        raise BpmnError(
            CODE_ENCODING,
            "文件编码不受支持，请使用 UTF-8",
            "unsupported encoding, please save the file as UTF-8",
            filename=filename,
        )
    match = _DECLARATION.search(data)
    if match is not None:
        line = data.count(b"\n", 0, match.start()) + 1
        raise BpmnError(
            CODE_DOCTYPE,
            "文件包含 DOCTYPE 或 ENTITY 声明，出于安全原因不予接受",
            "DOCTYPE and ENTITY declarations are not accepted for security reasons",
            filename=filename,
            line=line,
        )


def load_xml(data: bytes, filename: str, max_bytes: int = MAX_BPMN_BYTES) -> etree._ElementTree:
    """Parse `data` safely or raise BpmnError naming `filename` (and the line, where there is one)."""
    if not isinstance(data, bytes | bytearray):
        raise TypeError("load_xml expects bytes")
    data = bytes(data)
    _screen(data, filename, max_bytes)
    try:
        tree = etree.fromstring(data, parser=_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise BpmnError(
            CODE_XML,
            f"XML 格式错误：{exc.msg}",
            f"malformed XML: {exc.msg}",
            filename=filename,
            line=line,
        ) from None
    # Second line of defence, should the byte screen ever be bypassed (e.g. an encoding it cannot read).
    if tree.docinfo.doctype:
        raise BpmnError(
            CODE_DOCTYPE,
            "文件包含 DOCTYPE 声明，出于安全原因不予接受",
            "DOCTYPE declarations are not accepted for security reasons",
            filename=filename,
        )
    return tree
