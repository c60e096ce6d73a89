"""BPMN 2.0 schema validation with the XSD bundled in SpiffWorkflow (BPMN + spiffworkflow extensions)."""

from __future__ import annotations

import threading

from lxml import etree
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from .errors import CODE_XSD, BpmnError

# The XMLSchema object keeps the error log of its last run on itself, so concurrent validations would mix
# their errors up; validation takes milliseconds, a lock costs nothing.
_LOCK = threading.Lock()


def element_id_of(element: etree._Element | None) -> str | None:
    """The id of `element` or of its nearest ancestor that has one (what a user can find in the modeler)."""
    while element is not None:
        if isinstance(element.tag, str) and element.get("id"):
            return element.get("id")
        element = element.getparent()
    return None


def _element_for(tree: etree._ElementTree, entry: etree._LogEntry) -> etree._Element | None:
    root = tree.getroot()
    namespaces = {prefix: uri for prefix, uri in (root.nsmap or {}).items() if prefix}
    if entry.path:
        try:
            found = tree.xpath(entry.path, namespaces=namespaces)
        except etree.XPathError:
            found = []
        if found and isinstance(found[0], etree._Element):
            return found[0]
    for element in root.iter():
        if element.sourceline == entry.line:
            return element
    return None


def validate_bpmn(tree: etree._ElementTree, filename: str) -> None:
    """Raise BpmnError(code="xsd") naming line and element id of the first schema violation."""
    # Spiff's own preprocessing: bpmn-js writes correlation expressions in a form the XSD rejects.
    VALIDATOR.preprocess(tree)
    with _LOCK:
        valid = VALIDATOR.validator.validate(tree)
        errors = [e for e in VALIDATOR.validator.error_log if e.level >= etree.ErrorLevels.ERROR]
    if valid:
        return
    if not errors:  # pragma: no cover - libxml always logs why a document is invalid
        raise BpmnError(CODE_XSD, "不符合 BPMN 2.0 规范", "not valid BPMN 2.0", filename=filename)
    first = errors[0]
    element = _element_for(tree, first)
    raise BpmnError(
        CODE_XSD,
        f"不符合 BPMN 2.0 规范（XSD 校验）：{first.message}",
        f"not valid BPMN 2.0 (XSD): {first.message}",
        filename=filename,
        line=first.line or None,
        element_id=element_id_of(element),
    )
