"""Deploy time: turn a set of uploaded BPMN files into a CompiledProcess, or reject them with a BpmnError.

Each file is safe-loaded (size, no DOCTYPE), validated against the BPMN 2.0 XSD, normalised (bare ISO timer
values, ${...} conditions), every script/expression in it is compiled by the restricted compiler and the
engine bounds that can be checked statically are (bounds.py: recursive call activities, literal cardinalities
and timer cycles). Only then does SpiffWorkflow's SpiffBpmnParser build the specs, with call activities
resolved across all files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from . import bounds
from .errors import (
    CODE_AMBIGUOUS_PROCESS,
    CODE_NO_PROCESS,
    CODE_PARSE,
    CODE_RESERVED_ID,
    CODE_UNKNOWN_PROCESS,
    BpmnError,
)
from .expressions import BPMN_NS, check_sites, normalise, processes_by_id
from .validation import validate_bpmn
from .xml_safety import load_xml

FORM_PROPERTY = "formJsonSchemaFilename"  # SpiffArena's convention for the form of a user task


def content_hash(files: Mapping[str, bytes]) -> str:
    """sha256 over the sorted file names and contents (length-prefixed, so no two bundles collide)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        encoded = name.encode("utf-8")
        data = bytes(files[name])
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


@dataclass(frozen=True)
class HumanTaskSpec:
    name: str  # task spec id = BPMN element id
    title: str
    lane: str | None
    form: str | None
    properties: dict[str, str]
    documentation: str | None


@dataclass(frozen=True, eq=False)  # identity semantics: it holds specs and dicts, usable as a cache value/key
class CompiledProcess:
    process_id: str
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]
    human_tasks: dict[str, HumanTaskSpec]
    lanes: list[str]
    files: Mapping[str, bytes] = field(repr=False)


def compile_process(files: Mapping[str, bytes], process_id: str | None = None) -> CompiledProcess:
    """Check and parse `files` (name -> BPMN bytes); the main process defaults to the only candidate."""
    if not files:
        raise BpmnError(CODE_NO_PROCESS, "没有提供任何 BPMN 文件", "no BPMN file given")
    trees: dict[str, etree._ElementTree] = {}
    for name in sorted(files):
        tree = load_xml(files[name], name)
        validate_bpmn(tree, name)
        _check_reserved_ids(tree, name)
        normalise(tree, name)
        check_sites(tree, name)
        bounds.check_literals(tree, name)
        trees[name] = tree

    bounds.check_call_graph(trees)  # before choosing: a process that calls itself is never "the main one"
    chosen = _choose_process(trees, process_id)
    bounds.check_call_depth(trees, chosen)
    parser = SpiffBpmnParser()  # no validator: the files were validated above, before normalisation
    try:
        for name, tree in trees.items():
            parser.add_bpmn_xml(tree, filename=name)
        spec = parser.get_spec(chosen)
        subprocess_specs = parser.get_subprocess_specs(chosen)
    except ValidationException as exc:
        raise _parse_error(exc, trees) from None
    except BpmnError:
        raise
    except Exception as exc:  # Spiff's parser raises plain exceptions for some malformed input
        raise BpmnError(
            CODE_PARSE, f"流程解析失败：{exc}", f"the process cannot be parsed: {exc!r}"
        ) from None

    all_specs = [spec, *(s for s in subprocess_specs.values() if s is not None)]
    return CompiledProcess(
        process_id=chosen,
        spec=spec,
        subprocess_specs=dict(subprocess_specs),
        human_tasks=_human_tasks(all_specs),
        lanes=_lanes(all_specs, trees),
        files=MappingProxyType({name: bytes(files[name]) for name in files}),
    )


# --- element ids that SpiffWorkflow uses for its own task specs ------------------------------------

_RESERVED_IDS = frozenset({"Start", "End", "StartEventSplit", "StartEventJoin", "Root"})
_RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin", " [child]")


def _check_reserved_ids(tree: etree._ElementTree, filename: str) -> None:
    """Spiff keys task specs by element id next to its own "Start", "End", "<id>.EndJoin", ...; a diagram
    element with such an id silently replaces Spiff's and the process never starts."""
    for element in tree.getroot().iter(f"{{{BPMN_NS}}}*"):
        element_id = element.get("id")
        if element_id and (element_id in _RESERVED_IDS or element_id.endswith(_RESERVED_SUFFIXES)):
            raise BpmnError(
                CODE_RESERVED_ID,
                f"元素 id “{element_id}” 是引擎保留的名称，请改用其他 id",
                f"the element id {element_id!r} is reserved by the engine, please rename it",
                filename=filename,
                line=element.sourceline,
                element_id=element_id,
            )


# --- choosing the main process ---------------------------------------------------------------------


def _choose_process(trees: Mapping[str, etree._ElementTree], process_id: str | None) -> str:
    processes = processes_by_id(trees)
    # Spiff's rule: a process without isExecutable counts as executable.
    executable = [pid for pid, (_, node) in processes.items() if node.get("isExecutable", "true") == "true"]
    first_file = next(iter(trees))
    if process_id is not None:
        if process_id in executable:
            return process_id
        raise BpmnError(
            CODE_UNKNOWN_PROCESS,
            f"找不到可执行的流程 “{process_id}”（可选：{', '.join(executable) or '无'}）",
            f"no executable process {process_id!r} (available: {', '.join(executable) or 'none'})",
            filename=processes[process_id][0] if process_id in processes else first_file,
            element_id=process_id,
        )
    if not executable:
        raise BpmnError(
            CODE_NO_PROCESS,
            '文件中没有可执行的流程（isExecutable="true"）',
            'the files contain no executable process (isExecutable="true")',
            filename=first_file,
        )
    called = {
        element.get("calledElement")
        for tree in trees.values()
        for element in tree.getroot().iter(f"{{{BPMN_NS}}}callActivity")
    }
    candidates = [pid for pid in executable if pid not in called]
    if len(candidates) == 1:
        return candidates[0]
    listed = ", ".join(candidates or executable)
    raise BpmnError(
        CODE_AMBIGUOUS_PROCESS,
        f"无法确定主流程，请指定流程 id（候选：{listed}）",
        f"cannot tell which process is the main one, pass process_id (candidates: {listed})",
        filename=first_file,
    )


# --- errors from Spiff's parser --------------------------------------------------------------------

_NOT_FOUND = re.compile(r"The process '([^']+)' was not found")


def _line_of(tree: etree._ElementTree | None, element_id: str | None) -> int | None:
    if tree is None or not element_id:
        return None
    found = tree.xpath("//*[@id=$id]", id=element_id)
    return found[0].sourceline if found else None


def _parse_error(exc: ValidationException, trees: Mapping[str, etree._ElementTree]) -> BpmnError:
    message = str(exc.args[0]) if exc.args else str(exc)
    filename = exc.file_name or ""
    element_id = exc.id or None
    line = exc.line_number if isinstance(exc.line_number, int) else None
    missing = _NOT_FOUND.search(message)
    if missing and not filename:
        # A call activity points to a process that is in none of the files: name the call activity.
        for name, tree in trees.items():
            callers = tree.getroot().xpath(
                "//bpmn:callActivity[@calledElement=$pid]", namespaces={"bpmn": BPMN_NS}, pid=missing.group(1)
            )
            if callers:
                filename, element_id = name, callers[0].get("id")
                break
        return BpmnError(
            CODE_PARSE,
            f"调用活动引用的流程 “{missing.group(1)}” 不在上传的文件中",
            f"the called process {missing.group(1)!r} is not in the uploaded files",
            filename=filename,
            line=_line_of(trees.get(filename), element_id),
            element_id=element_id,
        )
    if line is None:
        line = _line_of(trees.get(filename), element_id)
    return BpmnError(
        CODE_PARSE,
        f"流程解析失败：{message}",
        f"the process cannot be parsed: {message}",
        filename=filename,
        line=line,
        element_id=element_id,
    )


# --- what the service layer needs to know about the process ----------------------------------------


def _task_specs(specs: list[BpmnProcessSpec]) -> list[Any]:
    return [task_spec for spec in specs for task_spec in spec.task_specs.values()]


def _human_tasks(specs: list[BpmnProcessSpec]) -> dict[str, HumanTaskSpec]:
    tasks: dict[str, HumanTaskSpec] = {}
    for task_spec in _task_specs(specs):
        bpmn_id = getattr(task_spec, "bpmn_id", None)
        # Spiff's "manual" tasks are the ones a person completes: user, manual and plain (none) tasks.
        if not bpmn_id or not getattr(task_spec, "manual", False) or bpmn_id in tasks:
            continue
        properties = dict((getattr(task_spec, "extensions", None) or {}).get("properties", {}))
        tasks[bpmn_id] = HumanTaskSpec(
            name=bpmn_id,
            title=task_spec.bpmn_name or bpmn_id,
            lane=task_spec.lane,
            form=properties.get(FORM_PROPERTY),
            properties=properties,
            documentation=task_spec.documentation,
        )
    return tasks


def _lanes(specs: list[BpmnProcessSpec], trees: Mapping[str, etree._ElementTree]) -> list[str]:
    used = {task_spec.lane for task_spec in _task_specs(specs) if getattr(task_spec, "lane", None)}
    ordered: list[str] = []
    for tree in trees.values():  # document order reads better than alphabetical for Chinese names
        for lane in tree.getroot().iter(f"{{{BPMN_NS}}}lane"):
            name = lane.get("name")
            if name in used and name not in ordered:
                ordered.append(name)
    ordered.extend(sorted(used - set(ordered)))
    return ordered
