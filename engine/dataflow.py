"""Deploy time: does every variable a condition, script or timer reads get written upstream, on every path?

A designer who deletes the 审批决定 step leaves a gateway reading `decision` that nothing writes any more; the
next case stopped with a NameError. This module finds such readers before a version is deployed, with a
must-be-defined analysis over the flow graph of the main process, into call activities (with the data the
call site has) and embedded sub-processes.

Writers: the start data (given by the caller), the fields a user task's form declares (resolved by the
caller, e.g. from forms/schemas/), and script assignments (script tasks, pre/post scripts).

Rules (documented in the README):
- A variable read where it is always evaluated (the first operand of an expression, a statement at the
  script's top level) must be written on EVERY path that reaches the reader.
- A variable read only under a condition — after `and`/`or`, in a branch of `a if c else b`, in the body of
  `if`/`for`/`while`, an `except` handler, a comprehension or a lambda — must be written on at least one
  path: the guard is taken to follow the path (`site_check_needed != "yes" or inspection_result == "ok"`).
- `x.get("k")`, `x["k"]` and `"k" in x` read the variable `x` only; keys are not variables.
- Any assignment anywhere in a script counts as a write of that script (also inside `if`); `del` removes it.
- A form writes every field its JSON Schema declares (required or not).
- Paths join with "and" (intersection) at exclusive/inclusive merges and at tasks with several incoming
  flows, with "or" (union) at a parallel join, where every branch has run. A boundary event starts from
  what was defined when its activity started. An event sub-process starts with the process's own entry.
- A call activity passes all data in and out (no ioSpecification, as Spiff does); what the called process
  writes on every path to its ends is written by the call activity. Unreachable elements are not checked.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from lxml import etree

from .errors import bilingual
from .expressions import BPMN_NS, SPIFF_NS, normalise
from .guards import SAFE_BUILTINS
from .policy import prepare_source
from .xml_safety import load_xml

FORM_PROPERTY = "formJsonSchemaFilename"

FormFields = Callable[[str], "set[str] | None"]

_FLOW_NODES = frozenset({
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
})
_SUB_PROCESSES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
_GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
                       "complexGateway"})
_BUILTIN_NAMES = frozenset(name for name in SAFE_BUILTINS if not name.startswith("_")) | {"True", "False", "None"}

_READER_ZH = {"condition": "条件", "script": "脚本", "timer": "定时器", "expression": "表达式"}


@dataclass(frozen=True)
class FlowProblem:
    """A variable read by `element_id` that is not written upstream (on every path, or on any path)."""

    filename: str
    element_id: str
    variable: str
    reader: str  # condition | script | timer | expression
    on_some_paths: bool  # written on some paths but not on all (False: on none)
    line: int | None = None
    via: str | None = None  # the call activity of the main diagram through which this was reached

    @property
    def message_zh(self) -> str:
        what = _READER_ZH.get(self.reader, "表达式")
        if self.on_some_paths:
            text = (f"{what}读取的变量 “{self.variable}” 并非在到达此处的每条路径上都已写入"
                    "（开始数据、上游表单字段或脚本赋值）")
        else:
            text = (f"{what}读取的变量 “{self.variable}” 在到达此处的任何路径上都没有写入"
                    "（开始数据、上游表单字段或脚本赋值）；是否删除了写入它的步骤？")
        return text + (f"（经调用活动 {self.via}）" if self.via else "")

    @property
    def message_en(self) -> str:
        if self.on_some_paths:
            text = (f"the {self.reader} reads the variable {self.variable}, which is not written on every path "
                    "reaching it (start data, an upstream form field or a script)")
        else:
            text = (f"the {self.reader} reads the variable {self.variable}, which no path reaching it writes "
                    "(start data, an upstream form field or a script); was the step that sets it removed?")
        return text + (f" (through the call activity {self.via})" if self.via else "")

    @property
    def message(self) -> str:
        return bilingual(self.message_zh, self.message_en)


# --- names read and written by one piece of code ---------------------------------------------------------


@dataclass
class CodeNames:
    must: set[str] = field(default_factory=set)  # read unconditionally before any assignment in the code
    maybe: set[str] = field(default_factory=set)  # read only under a condition
    writes: set[str] = field(default_factory=set)  # assigned anywhere (minus what `del` removed)


class _Names(ast.NodeVisitor):
    def __init__(self) -> None:
        self.result = CodeNames()
        self.assigned: set[str] = set()
        self.locals: list[set[str]] = []
        self.conditional = 0

    # reads and writes
    def _read(self, name: str) -> None:
        if name.startswith("_") or name in _BUILTIN_NAMES or name in self.assigned:
            return
        if any(name in scope for scope in self.locals):
            return
        (self.result.maybe if self.conditional else self.result.must).add(name)

    def _store(self, name: str) -> None:
        if self.locals:
            self.locals[-1].add(name)
            return
        self.assigned.add(name)
        if not name.startswith("_"):
            self.result.writes.add(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id)
        elif isinstance(node.ctx, ast.Store):
            self._store(node.id)
        else:  # del
            self.result.writes.discard(node.id)

    # order of evaluation: the value before the targets
    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self._read(node.target.id)
            self._store(node.target.id)
        else:
            self.visit(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.visit(node.target)

    # conditional evaluation
    def _conditionally(self, nodes: Iterable[ast.AST]) -> None:
        self.conditional += 1
        for item in nodes:
            self.visit(item)
        self.conditional -= 1

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        self.visit(node.values[0])
        self._conditionally(node.values[1:])

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self.visit(node.test)
        self._conditionally([node.body, node.orelse])

    def visit_If(self, node: ast.If) -> None:
        self.visit(node.test)
        self._conditionally([*node.body, *node.orelse])

    def visit_While(self, node: ast.While) -> None:
        self.visit(node.test)
        self._conditionally([*node.body, *node.orelse])

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.iter)
        self.visit(node.target)
        self._conditionally([*node.body, *node.orelse])

    def visit_Try(self, node: ast.Try) -> None:
        for statement in node.body:
            self.visit(statement)
        self._conditionally([*node.handlers, *node.orelse])
        for statement in node.finalbody:
            self.visit(statement)

    visit_TryStar = visit_Try

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.assigned.add(node.name)
        for statement in node.body:
            self.visit(statement)

    def visit_Match(self, node: ast.Match) -> None:
        self.visit(node.subject)
        self._conditionally(node.cases)

    # local scopes
    def _comprehension(self, generators: list[ast.comprehension], results: list[ast.AST]) -> None:
        self.visit(generators[0].iter)
        self.locals.append(set())
        self.conditional += 1
        for index, generator in enumerate(generators):
            if index:
                self.visit(generator.iter)
            self.visit(generator.target)
            for condition in generator.ifs:
                self.visit(condition)
        for result in results:
            self.visit(result)
        self.conditional -= 1
        self.locals.pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node.generators, [node.elt])

    visit_SetComp = visit_ListComp
    visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node.generators, [node.key, node.value])

    def _arguments(self, args: ast.arguments) -> set[str]:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)
        return {a.arg for a in every}

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.locals.append(self._arguments(node.args))
        self._conditionally([node.body])
        self.locals.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.assigned.add(node.name)  # a function never becomes task data
        self.locals.append(self._arguments(node.args))
        self._conditionally(node.body)
        self.locals.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]


def code_names(source: str, mode: str) -> CodeNames:
    """Names `source` (a script: mode "exec", an expression: "eval") reads and writes; empty if unparsable
    (the restricted compiler reports syntax errors)."""
    try:
        tree = ast.parse(prepare_source(source, mode), mode=mode)
    except (SyntaxError, ValueError):
        return CodeNames()
    visitor = _Names()
    visitor.visit(tree)
    visitor.result.maybe -= visitor.result.must
    return visitor.result


# --- the flow graph ---------------------------------------------------------------------------------------


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


@dataclass
class _Reader:
    element_id: str
    reader: str
    names: CodeNames
    line: int | None
    after_writes: bool = False  # evaluated after the node's own writes (post-scripts, loop conditions)


@dataclass
class _Node:
    element: etree._Element
    kind: str
    readers: list[_Reader] = field(default_factory=list)
    writes: set[str] = field(default_factory=set)
    incoming: list[str] = field(default_factory=list)
    outgoing: list[tuple[str, str | None]] = field(default_factory=list)  # (target, condition flow id)
    attached_to: str | None = None


@dataclass
class _Scope:
    """One process, or one (event) sub-process inside it."""

    key: str
    filename: str
    nodes: dict[str, _Node]
    starts: list[str]
    event_subprocesses: list[etree._Element]


_NSMAP = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None or not element.text.strip():
        return None
    return element.text


class _Bundle:
    def __init__(self, files: Mapping[str, bytes], form_fields: FormFields) -> None:
        self.form_fields = form_fields
        self.processes: dict[str, tuple[str, etree._Element]] = {}
        for name in sorted(files):
            tree = load_xml(files[name], name)
            normalise(tree, name)  # the same text Spiff evaluates (bare ISO timers quoted, JUEL translated)
            for process in tree.getroot().iterchildren(f"{{{BPMN_NS}}}process"):
                if process.get("id"):
                    self.processes.setdefault(process.get("id"), (name, process))
        self._scopes: dict[int, _Scope] = {}

    def scope(self, container: etree._Element, filename: str) -> _Scope:
        cached = self._scopes.get(id(container))
        if cached is not None:
            return cached
        nodes: dict[str, _Node] = {}
        event_subprocesses: list[etree._Element] = []
        for child in container:
            kind = _local(child)
            if kind not in _FLOW_NODES or not child.get("id"):
                continue
            if kind in _SUB_PROCESSES and child.get("triggeredByEvent") == "true":
                event_subprocesses.append(child)
                continue
            nodes[child.get("id")] = self._node(child, kind)
        for flow in container.iterchildren(f"{{{BPMN_NS}}}sequenceFlow"):
            source, target = flow.get("sourceRef"), flow.get("targetRef")
            if source not in nodes or target not in nodes:
                continue
            condition = _text(flow.find("bpmn:conditionExpression", _NSMAP))
            nodes[source].outgoing.append((target, flow.get("id") if condition else None))
            nodes[target].incoming.append(source)
            if condition:
                names = code_names(condition, "eval")
                line = flow.find("bpmn:conditionExpression", _NSMAP).sourceline
                # A condition is evaluated where the flow leaves: after the source's own writes.
                nodes[source].readers.append(_Reader(flow.get("id") or "", "condition", names, line, True))
        starts = [nid for nid, node in nodes.items() if node.kind == "startEvent"]
        if not starts:  # a sub-process may start at its elements without incoming flows
            starts = [nid for nid, node in nodes.items() if not node.incoming and node.attached_to is None]
        result = _Scope(f"{filename}#{container.get('id')}", filename, nodes, starts, event_subprocesses)
        self._scopes[id(container)] = result
        return result

    def _node(self, element: etree._Element, kind: str) -> _Node:
        node = _Node(element, kind, attached_to=element.get("attachedToRef"))
        element_id = element.get("id") or ""
        if kind == "scriptTask":
            script = _text(element.find("bpmn:script", _NSMAP))
            if script:
                names = code_names(script, "exec")
                node.readers.append(_Reader(element_id, "script", names, element.sourceline))
                node.writes |= names.writes
        pre = _text(element.find("bpmn:extensionElements/spiffworkflow:preScript", _NSMAP))
        if pre:
            names = code_names(pre, "exec")
            node.readers.append(_Reader(element_id, "script", names, element.sourceline))
            node.writes |= names.writes
        form = element.find(
            f"bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property[@name='{FORM_PROPERTY}']",
            _NSMAP,
        )
        if form is not None and form.get("value"):
            node.writes |= self.form_fields(form.get("value")) or set()
        post = _text(element.find("bpmn:extensionElements/spiffworkflow:postScript", _NSMAP))
        if post:
            names = code_names(post, "exec")
            node.readers.append(_Reader(element_id, "script", names, element.sourceline, True))
            node.writes |= names.writes
        for tag in ("timeDate", "timeDuration", "timeCycle"):
            for timer in element.iterfind(f"bpmn:timerEventDefinition/bpmn:{tag}", _NSMAP):
                if _text(timer):
                    node.readers.append(_Reader(element_id, "timer", code_names(timer.text, "eval"), timer.sourceline))
        for condition in element.iterfind("bpmn:conditionalEventDefinition/bpmn:condition", _NSMAP):
            if _text(condition):
                names = code_names(condition.text, "eval")
                node.readers.append(_Reader(element_id, "expression", names, condition.sourceline))
        loop = element.find("bpmn:multiInstanceLoopCharacteristics", _NSMAP)
        if loop is not None:
            for tag, after in (("loopCardinality", False), ("completionCondition", True)):
                expression = _text(loop.find(f"bpmn:{tag}", _NSMAP))
                if expression:
                    names = code_names(expression, "eval")
                    node.readers.append(_Reader(element_id, "expression", names, element.sourceline, after))
            collection = _text(loop.find("bpmn:loopDataInputRef", _NSMAP))
            if collection:
                node.readers.append(_Reader(element_id, "expression", CodeNames(must={collection.strip()}),
                                            element.sourceline))
            output = _text(loop.find("bpmn:loopDataOutputRef", _NSMAP))
            if output:
                node.writes.add(output.strip())
        standard = element.find("bpmn:standardLoopCharacteristics/bpmn:loopCondition", _NSMAP)
        if _text(standard):
            node.readers.append(_Reader(element_id, "expression", code_names(standard.text, "eval"),
                                        standard.sourceline, True))
        return node


# --- the analysis -----------------------------------------------------------------------------------------

Names = frozenset[str]


@dataclass(frozen=True)
class _Result:
    must_exit: Names | None  # None: no end is reachable
    may_exit: Names


class _Analysis:
    def __init__(self, bundle: _Bundle) -> None:
        self.bundle = bundle
        self.memo: dict[tuple[str, Names, Names], _Result] = {}
        self.problems: dict[tuple[str, str, str], FlowProblem] = {}
        self.active: set[str] = set()
        self.reported: set[tuple[tuple[str, Names, Names], str | None]] = set()

    def process(self, process_id: str, must: Names, may: Names, via: str | None, report: bool) -> _Result:
        found = self.bundle.processes.get(process_id)
        if found is None or process_id in self.active:  # missing / recursive: reported elsewhere
            return _Result(must, may)
        filename, element = found
        self.active.add(process_id)
        try:
            return self.scope(self.bundle.scope(element, filename), must, may, via, report)
        finally:
            self.active.discard(process_id)

    def scope(self, scope: _Scope, must: Names, may: Names, via: str | None, report: bool) -> _Result:
        """Analyse `scope` entered with (must, may). Readers are reported only with `report`, which callers
        pass once their own sets are final (entry sets seen while iterating would give spurious findings)."""
        key = (scope.key, must, may)
        if key in self.memo and (not report or (key, via) in self.reported):
            return self.memo[key]
        nodes = scope.nodes
        must_in: dict[str, Names | None] = dict.fromkeys(nodes)
        may_in: dict[str, Names] = {nid: frozenset() for nid in nodes}
        must_out: dict[str, Names | None] = dict.fromkeys(nodes)
        may_out: dict[str, Names] = {nid: frozenset() for nid in nodes}
        boundaries: dict[str, list[str]] = {}
        for nid, node in nodes.items():
            if node.attached_to in nodes:
                boundaries.setdefault(node.attached_to, []).append(nid)

        work = list(scope.starts)
        for start in scope.starts:
            must_in[start], may_in[start] = must, may
        while work:
            nid = work.pop()
            node = nodes[nid]
            if nid not in scope.starts:
                new_must, new_may = self._join(node, nid, nodes, must_out, may_out, must_in, may_in)
                if (new_must, new_may) == (must_in[nid], may_in[nid]) and must_out[nid] is not None:
                    continue
                must_in[nid], may_in[nid] = new_must, new_may
            if must_in[nid] is None:
                continue
            out_must, out_may = self._transfer(node, must_in[nid], may_in[nid], scope.filename, via, report=False)
            if (out_must, out_may) == (must_out[nid], may_out[nid]):
                continue
            must_out[nid], may_out[nid] = out_must, out_may
            work.extend(target for target, _ in node.outgoing)
            work.extend(boundaries.get(nid, []))

        if report:  # converged: check the readers with the final sets
            self.reported.add((key, via))
            for nid, node in nodes.items():
                if must_in[nid] is not None:
                    self._transfer(node, must_in[nid], may_in[nid], scope.filename, via, report=True)
            for sub in scope.event_subprocesses:
                self.scope(self.bundle.scope(sub, scope.filename), must, may, via, report=True)

        ends = [nid for nid, node in nodes.items() if not node.outgoing and must_out[nid] is not None]
        exits = [must_out[nid] for nid in ends if must_out[nid] is not None]
        must_exit = frozenset.intersection(*exits) if exits else None
        may_exit = frozenset().union(*(may_out[nid] for nid in ends)) if ends else may
        result = _Result(must_exit, may_exit)
        self.memo[key] = result
        return result

    @staticmethod
    def _join(
        node: _Node,
        nid: str,
        nodes: Mapping[str, _Node],
        must_out: Mapping[str, Names | None],
        may_out: Mapping[str, Names],
        must_in: Mapping[str, Names | None],
        may_in: Mapping[str, Names],
    ) -> tuple[Names | None, Names]:
        if node.attached_to in nodes:  # a boundary event: what its activity started with
            return must_in[node.attached_to], may_in[node.attached_to]
        known = [must_out[p] for p in node.incoming if must_out[p] is not None]
        may = frozenset().union(*(may_out[p] for p in node.incoming))
        if not known:
            return None, may
        if node.kind == "parallelGateway" and len(node.incoming) > 1:
            return frozenset().union(*known), may
        return frozenset.intersection(*known), may

    def _transfer(
        self, node: _Node, must: Names, may: Names, filename: str, via: str | None, *, report: bool
    ) -> tuple[Names, Names]:
        before = [r for r in node.readers if not r.after_writes]
        after = [r for r in node.readers if r.after_writes]
        if report:
            self._check(before, must, may, filename, via)
        out_must, out_may = must | node.writes, may | node.writes
        element = node.element
        if node.kind == "callActivity" and element.get("calledElement"):
            result = self.process(element.get("calledElement"), out_must, out_may, via or element.get("id"), report)
            if result.must_exit is not None:
                out_must = out_must | result.must_exit
            out_may = out_may | result.may_exit
        elif node.kind in _SUB_PROCESSES:
            result = self.scope(self.bundle.scope(element, filename), out_must, out_may, via, report)
            if result.must_exit is not None:
                out_must = out_must | result.must_exit
            out_may = out_may | result.may_exit
        if report:
            self._check(after, out_must, out_may, filename, via)
        return out_must, out_may

    def _check(self, readers: list[_Reader], must: Names, may: Names, filename: str, via: str | None) -> None:
        for reader in readers:
            for name in sorted(reader.names.must - must):
                self._add(FlowProblem(filename, reader.element_id, name, reader.reader, name in may, reader.line, via))
            for name in sorted(reader.names.maybe - may):
                self._add(FlowProblem(filename, reader.element_id, name, reader.reader, False, reader.line, via))

    def _add(self, problem: FlowProblem) -> None:
        self.problems.setdefault((problem.filename, problem.element_id, problem.variable), problem)


def check_data_flow(
    files: Mapping[str, bytes],
    process_id: str,
    *,
    start_variables: Iterable[str],
    form_fields: FormFields,
) -> list[FlowProblem]:
    """Every reader whose variables are not written upstream, in document order per file.

    `files` must have passed compile_process (safe, valid, compiled); `form_fields(name)` gives the fields a
    form declares, or None when the form is unknown (then it writes nothing).
    """
    analysis = _Analysis(_Bundle(files, form_fields))
    start = frozenset(start_variables)
    analysis.process(process_id, start, start, None, report=True)
    return sorted(analysis.problems.values(), key=lambda p: (p.via is not None, p.filename, p.line or 0,
                                                              p.element_id, p.variable))
