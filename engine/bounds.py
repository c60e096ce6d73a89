"""Deploy time: the engine bounds (engine/limits.py) that can be checked before anything runs.

- call activities that call their own process, directly or through other processes of the bundle (across
  files), and chains of call activities / sub-processes nested deeper than the run-time limit;
- a literal multi-instance cardinality over the limit;
- a literal timer cycle shorter than the minimum interval (bare ISO such as `R/PT0.001S` is quoted by
  normalisation before this runs, so both spellings are checked).

Values computed at run time are checked at run time (limits.check_cardinality, the cycle check).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from . import limits, timers
from .errors import CODE_BOUND, CODE_CALL_RECURSION, BpmnError
from .expressions import BPMN_NS, iter_sites, processes_by_id

_NS = {"bpmn": BPMN_NS}


@dataclass(frozen=True)
class _Call:
    element_id: str
    called: str
    line: int | None
    nesting: int  # sub-process levels around the call activity inside its process


def _nesting(element: etree._Element, process: etree._Element) -> int:
    depth, current = 0, element.getparent()
    while current is not None and current is not process:
        if etree.QName(current).localname in ("subProcess", "transaction", "adHocSubProcess"):
            depth += 1
        current = current.getparent()
    return depth


def _calls(process: etree._Element) -> list[_Call]:
    return [
        _Call(call.get("id") or "", call.get("calledElement") or "", call.sourceline, _nesting(call, process))
        for call in process.iter(f"{{{BPMN_NS}}}callActivity")
        if call.get("calledElement")
    ]


def _subprocess_depth(process: etree._Element) -> tuple[int, str | None]:
    deepest, at = 0, None
    for sub in process.xpath(".//bpmn:subProcess | .//bpmn:transaction | .//bpmn:adHocSubProcess", namespaces=_NS):
        depth = _nesting(sub, process) + 1
        if depth > deepest:
            deepest, at = depth, sub.get("id")
    return deepest, at


def check_call_graph(trees: Mapping[str, etree._ElementTree]) -> None:
    """Refuse a call activity that (directly or through other processes of the bundle) calls its own process."""
    processes = processes_by_id(trees)
    calls = {pid: _calls(node) for pid, (_, node) in processes.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[tuple[str, _Call | None]] = []

    def visit(pid: str, via: _Call | None) -> None:
        state[pid] = 1
        path.append((pid, via))
        for call in calls.get(pid, []):
            if call.called not in processes:
                continue  # a missing process is reported by the parser, with the call activity
            if state.get(call.called) == 1:
                _raise_recursion(processes, path, pid, call)
            if state.get(call.called) is None:
                visit(call.called, call)
        path.pop()
        state[pid] = 2

    for pid in processes:
        if pid not in state:
            visit(pid, None)


def _raise_recursion(
    processes: Mapping[str, tuple[str, etree._Element]], path: list[tuple[str, _Call | None]], caller: str, call: _Call
) -> None:
    ring = [pid for pid, _ in path[[p for p, _ in path].index(call.called):]] + [call.called]
    chain = " → ".join(ring)
    filename = processes[caller][0]
    if len(ring) == 2:
        zh = f"调用活动 “{call.element_id}” 调用了它所在的流程 “{call.called}” 本身，会无限递归"
        en = f"the call activity {call.element_id!r} calls its own process {call.called!r}: endless recursion"
    else:
        zh = f"调用活动 “{call.element_id}” 形成循环调用（{chain}），会无限递归"
        en = f"the call activity {call.element_id!r} closes a ring of calls ({chain}): endless recursion"
    raise BpmnError(CODE_CALL_RECURSION, zh, en, filename=filename, line=call.line, element_id=call.element_id)


def check_call_depth(trees: Mapping[str, etree._ElementTree], main: str) -> None:
    """Refuse chains of call activities / sub-processes nested deeper than the run-time limit."""
    processes = processes_by_id(trees)
    limit = limits.current().max_call_depth
    memo: dict[str, tuple[int, str | None, str | None]] = {}

    def depth(pid: str) -> tuple[int, str | None, str | None]:
        """(levels below `pid`, the element that goes deepest, its file)."""
        if pid in memo:
            return memo[pid]
        memo[pid] = (0, None, None)  # no recursion here: check_call_graph ran first
        filename, node = processes[pid]
        best, at = _subprocess_depth(node)
        at_file = filename if at else None
        for call in _calls(node):
            if call.called in processes:
                below = call.nesting + 1 + depth(call.called)[0]
                if below > best:
                    best, at, at_file = below, call.element_id, filename
        memo[pid] = (best, at, at_file)
        return memo[pid]

    levels, element_id, filename = depth(main) if main in processes else (0, None, None)
    if levels > limit:
        raise BpmnError(
            CODE_BOUND,
            f"调用活动和子流程嵌套 {levels} 层，超过允许的 {limit} 层",
            f"call activities and sub-processes are nested {levels} levels deep, more than the {limit} allowed",
            filename=filename or "",
            line=_line(trees.get(filename or ""), element_id),
            element_id=element_id,
        )


def _line(tree: etree._ElementTree | None, element_id: str | None) -> int | None:
    if tree is None or not element_id:
        return None
    found = tree.xpath("//*[@id=$id]", id=element_id)
    return found[0].sourceline if found else None


def _literal(source: str) -> object:
    try:
        return ast.literal_eval(source.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def check_literals(tree: etree._ElementTree, filename: str) -> None:
    """Literal multi-instance cardinalities and timer cycles against the engine's bounds (after normalise)."""
    bounds = limits.current()
    for site in iter_sites(tree):
        name = etree.QName(site.element).localname
        if name == "loopCardinality":
            value = _literal(site.source)
            literal = isinstance(value, int) and not isinstance(value, bool)
            if literal and not 0 <= value <= bounds.max_multi_instance:  # type: ignore[operator]
                raise BpmnError(
                    CODE_BOUND,
                    f"多实例的数量 {value} 超出允许范围（0 到 {bounds.max_multi_instance}）",
                    f"the multi-instance cardinality {value} is outside 0 … {bounds.max_multi_instance}",
                    filename=filename,
                    line=site.line,
                    element_id=site.element_id,
                )
        elif name == "timeCycle":
            value = timers.literal_value(site.source)
            if value is None:
                continue  # an expression: checked when the engine computes it
            try:
                _, _, duration = TimerEventDefinition.parse_iso_recurring_interval(value)
            except Exception:  # noqa: S112 - an invalid value is reported by the timer check
                continue
            seconds = duration.total_seconds()
            if seconds < bounds.min_timer_cycle_seconds:
                zh, en = limits.cycle_too_short_texts(seconds, value)
                raise BpmnError(CODE_BOUND, zh, en, filename=filename, line=site.line, element_id=site.element_id)
