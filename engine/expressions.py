"""Find every piece of code in a BPMN document, normalise it, and check it with the restricted compiler.

This runs at deploy time, before SpiffWorkflow parses the document, so that a hostile or broken diagram is
rejected with the file, line and element id and nothing of it ever runs. The list of places follows what
SpiffWorkflow 3.2.0 hands to its script engine (grep `script_engine` in its sources):

exec: bpmn:script, spiffworkflow:preScript, spiffworkflow:postScript
eval: bpmn:conditionExpression, bpmn:timeDate/timeDuration/timeCycle, bpmn:loopCardinality,
      bpmn:completionCondition, bpmn:loopCondition, bpmn:condition (conditional events),
      correlation retrieval expressions, spiffworkflow:messagePayload, spiffworkflow:payloadExpression,
      spiffworkflow:expression (process variable correlations), serviceTaskOperator parameter values.

The same text is what Spiff later evaluates, so the compile cache makes the run-time compile free.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from lxml import etree

from . import juel, timers
from .errors import CODE_JUEL, CODE_SCRIPT_FORBIDDEN, CODE_TIMER, BpmnError, ScriptError
from .policy import compile_restricted
from .validation import element_id_of

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"

# (namespace, local name) -> compile mode, for elements whose text is code.
_TEXT_SITES: dict[tuple[str, str], str] = {
    (BPMN_NS, "script"): "exec",
    (SPIFF_NS, "preScript"): "exec",
    (SPIFF_NS, "postScript"): "exec",
    (BPMN_NS, "conditionExpression"): "eval",
    (BPMN_NS, "timeDate"): "eval",
    (BPMN_NS, "timeDuration"): "eval",
    (BPMN_NS, "timeCycle"): "eval",
    (BPMN_NS, "loopCardinality"): "eval",
    (BPMN_NS, "completionCondition"): "eval",
    (BPMN_NS, "loopCondition"): "eval",
    (BPMN_NS, "condition"): "eval",
    (SPIFF_NS, "messagePayload"): "eval",
    (SPIFF_NS, "payloadExpression"): "eval",
    (SPIFF_NS, "expression"): "eval",
}

# Expression sites where a Camunda-style ${...} may appear and is translated.
_JUEL_SITES = {
    "conditionExpression",
    "loopCardinality",
    "completionCondition",
    "loopCondition",
    "condition",
    *timers.TIMER_TAGS,
}

# Elements that only hold an id for technical reasons; the user knows the event or task around them.
_TECHNICAL_SUFFIXES = ("EventDefinition", "LoopCharacteristics")


@dataclass(frozen=True)
class Site:
    element: etree._Element
    element_id: str | None
    source: str
    mode: str
    line: int | None  # line of the first line of `source` in the file


def _qname(element: etree._Element) -> tuple[str, str] | None:
    if not isinstance(element.tag, str):
        return None
    qname = etree.QName(element)
    return (qname.namespace or "", qname.localname)


def _owner_id(element: etree._Element) -> str | None:
    """Id of the flow element / sequence flow / message the code belongs to."""
    current = element.getparent()
    while current is not None:
        name = _qname(current)
        # Extension elements (spiffworkflow:serviceTaskOperator id="http/get") have ids of another kind.
        if current.get("id") and name and name[0] == BPMN_NS and not name[1].endswith(_TECHNICAL_SUFFIXES):
            return current.get("id")
        current = current.getparent()
    return element_id_of(element)


def _retrieval_expression(element: etree._Element) -> bool:
    parent = element.getparent()
    name = _qname(parent) if parent is not None else None
    return name == (BPMN_NS, "correlationPropertyRetrievalExpression")


def _leading_lines(text: str) -> int:
    return text[: len(text) - len(text.lstrip())].count("\n")


def iter_sites(tree: etree._ElementTree) -> Iterator[Site]:
    for element in tree.getroot().iter():
        name = _qname(element)
        if name is None:
            continue
        mode = _TEXT_SITES.get(name)
        if mode is None and _retrieval_expression(element):
            mode = "eval"  # formalExpression, or messagePath after Spiff's XSD preprocessing
        if mode is not None and element.text is not None and element.text.strip():
            line = element.sourceline
            if mode == "eval" and line is not None:
                line += _leading_lines(element.text)
            yield Site(element, _owner_id(element), element.text, mode, line)
        elif name == (SPIFF_NS, "parameter") and element.get("value") is not None:
            yield Site(element, _owner_id(element), element.get("value", ""), "eval", element.sourceline)


def normalise(tree: etree._ElementTree, filename: str) -> None:
    """Rewrite, in the in-memory tree, bare ISO timer values and ${...} expressions into Python."""
    for element in tree.getroot().iter():
        name = _qname(element)
        if name is None or name[0] != BPMN_NS or element.text is None:
            continue
        local = name[1]
        if local in _JUEL_SITES and juel.is_juel(element.text):
            try:
                element.text = juel.translate(element.text)
            except juel.JuelUnsupported as exc:
                raise BpmnError(
                    CODE_JUEL,
                    f"无法转换的 JUEL 表达式 {element.text.strip()!r}：{exc}；请改用 Python 表达式",
                    f"cannot translate the JUEL expression {element.text.strip()!r}: {exc}; use Python",
                    filename=filename,
                    line=element.sourceline,
                    element_id=_owner_id(element),
                ) from None
        if local in timers.TIMER_TAGS:
            element.text = timers.normalise_timer_text(element.text)


def check_sites(tree: etree._ElementTree, filename: str) -> int:
    """Compile every site with the restricted compiler; return how many there were."""
    count = 0
    for site in iter_sites(tree):
        count += 1
        try:
            compile_restricted(site.source, site.mode)
        except ScriptError as exc:
            line = site.line
            if line is not None and exc.line is not None:
                line += exc.line - 1
            raise BpmnError(
                CODE_SCRIPT_FORBIDDEN,
                exc.message_zh,
                exc.message_en,
                filename=filename,
                line=line,
                element_id=site.element_id,
            ) from None
        _check_timer_literal(site, filename)
    return count


def _check_timer_literal(site: Site, filename: str) -> None:
    name = _qname(site.element)
    if name is None or name[0] != BPMN_NS or name[1] not in timers.TIMER_TAGS:
        return
    value = timers.literal_value(site.source)
    if value is None:
        return  # an expression: its value is only known at run time
    try:
        timers.check_literal(name[1], value)
    except ValueError as exc:
        raise BpmnError(
            CODE_TIMER,
            f"定时器的值 {value!r} 不是有效的 ISO 8601 {_TIMER_KIND_ZH[name[1]]}",
            f"the timer value {value!r} is not a valid ISO 8601 {_TIMER_KIND_EN[name[1]]} ({exc})",
            filename=filename,
            line=site.line,
            element_id=site.element_id,
        ) from None


_TIMER_KIND_ZH = {"timeDate": "日期时间", "timeDuration": "时长", "timeCycle": "循环周期"}
_TIMER_KIND_EN = {"timeDate": "date/time", "timeDuration": "duration", "timeCycle": "repeating interval"}


def processes_by_id(trees: Mapping[str, etree._ElementTree]) -> dict[str, tuple[str, etree._Element]]:
    """Every top-level process of a bundle's files: process id → (file name, element); the first file wins."""
    found: dict[str, tuple[str, etree._Element]] = {}
    for name, tree in trees.items():
        for process in tree.getroot().iterchildren(f"{{{BPMN_NS}}}process"):
            if process.get("id"):
                found.setdefault(process.get("id"), (name, process))
    return found
