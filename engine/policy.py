"""The restricted compiler: every script and expression of a diagram is compiled here, and only here.

RestrictedPython's transformer already forbids names and attributes starting with "_" (so no
`().__class__.__base__.__subclasses__()`), routes attribute/item access and iteration through guard
functions, and refuses exec/eval. This policy adds what a workflow engine needs on top:

- imports, class definitions and `with` are refused at compile time (a diagram author gets the error at
  upload instead of at run time);
- calls to introspection/IO builtins (getattr, open, type, ...) are refused at compile time;
- `+`, `*`, `**`, `<<` and `%` go through guard functions that refuse results too large to build
  (one C call such as `10**10**10` or `'a'*10**10` cannot be interrupted by the time budget);
- every `while` body, `except` handler and `finally` block starts with a budget check: a one-line
  `while True: pass` produces no trace events in CPython 3.11, and once the time budget has fired a script
  must not be able to catch it and carry on;
- f-string format specs may not ask for giant widths.

Compilation is cached by source text: a deployed diagram compiles each script once per process.
"""

from __future__ import annotations

import ast
import copy
import functools
import re
import textwrap
from dataclasses import dataclass
from types import CodeType

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import IOPERATOR_TO_STR, RestrictingNodeTransformer, copy_locations

from .errors import CODE_SCRIPT_FORBIDDEN, ScriptError

SCRIPT_FILENAME = "<bpmn-script>"
BUDGET_CHECK = "_budget_check_"

BINOP_GUARDS: dict[type[ast.operator], str] = {
    ast.Add: "_guard_add_",
    ast.Mult: "_guard_mul_",
    ast.Pow: "_guard_pow_",
    ast.LShift: "_guard_lshift_",
    ast.Mod: "_guard_mod_",
}

# Builtins that inspect or reach outside the sandbox. Only calls are refused: a task-data variable may
# well be called `type` or `input`.
FORBIDDEN_CALLS = frozenset(
    {
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "vars",
        "dir",
        "globals",
        "locals",
        "open",
        "compile",
        "exec",
        "eval",
        "breakpoint",
        "input",
        "help",
        "memoryview",
        "super",
        "type",
        "object",
        "iter",
        "exit",
        "quit",
        "classmethod",
        "staticmethod",
        "property",
        "bytearray",
        "bytes",
        "format",
    }
)

_HUGE_NUMBER = re.compile(r"\d{7,}")

# English messages produced by this policy, with their Chinese counterparts.
_IMPORT_EN = "imports are not allowed in scripts"
_CLASS_EN = "class definitions are not allowed in scripts"
_WITH_EN = "`with` statements are not allowed in scripts"
_FORMAT_DYNAMIC_EN = "format specifications computed at run time are not allowed"
_FORMAT_HUGE_EN = "format width or precision too large"
_AUGASSIGN_EN = "augmented assignment of this target is not allowed"

_ZH: list[tuple[re.Pattern[str], str]] = [
    (re.compile(re.escape(_IMPORT_EN)), "脚本不允许导入模块"),
    (re.compile(re.escape(_CLASS_EN)), "脚本不允许定义类"),
    (re.compile(re.escape(_WITH_EN)), "脚本不允许使用 with 语句"),
    (re.compile(re.escape(_FORMAT_DYNAMIC_EN)), "格式说明不能在运行时计算"),
    (re.compile(re.escape(_FORMAT_HUGE_EN)), "格式宽度或精度过大"),
    (re.compile(re.escape(_AUGASSIGN_EN)), "不允许对该目标使用复合赋值"),
    (re.compile(r'calling "(?P<n>[^"]+)" is not allowed'), "脚本不允许调用函数 “{n}”"),
    (
        re.compile(r'"(?P<n>[^"]+)" is an invalid variable name because it starts with "_"'),
        "名称 “{n}” 以下划线开头，脚本中不允许使用",
    ),
    (
        re.compile(r'"(?P<n>[^"]+)" is an invalid attribute name because it starts with "_"'),
        "属性 “{n}” 以下划线开头，脚本中不允许访问",
    ),
    (
        re.compile(
            r'"(?P<n>[^"]+)" is (?:an invalid (?:variable|attribute) name because it ends with'
            r"|a restricted|a reserved)"
        ),
        "名称 “{n}” 是受限名称，脚本中不允许使用",
    ),
    (re.compile(r"(?:Exec|Eval) calls are not allowed"), "脚本不允许调用 exec 或 eval"),
    (re.compile(r"(?P<n>\w+) statements are not allowed"), "脚本中不允许使用 {n} 语句"),
    (re.compile(r"^(?:SyntaxError|IndentationError|TabError): (?P<n>.*)$"), "语法错误：{n}"),
]

_LINE_PREFIX = re.compile(r"^Line (\d+): (.*)$", re.DOTALL)


def _is_pure(node: ast.expr) -> bool:
    """An expression that may be evaluated twice without side effects (for `a[k] += v`)."""
    if isinstance(node, ast.Name | ast.Constant):
        return True
    if isinstance(node, ast.Attribute):
        return _is_pure(node.value)
    if isinstance(node, ast.Subscript):
        return _is_pure(node.value) and _is_pure(node.slice)
    return False


def _budget_check_stmt(like: ast.AST) -> ast.stmt:
    call = ast.Expr(ast.Call(func=ast.Name(BUDGET_CHECK, ast.Load()), args=[], keywords=[]))
    copy_locations(call, like)
    ast.fix_missing_locations(call)
    return call


class SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus the engine's own rules (see the module docstring)."""

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, _IMPORT_EN)
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, _IMPORT_EN)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, _CLASS_EN)
        return node

    def visit_With(self, node: ast.With) -> ast.AST:
        # A context manager's __exit__ could swallow the budget exception.
        self.error(node, _WITH_EN)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            self.error(node, f'calling "{node.func.id}" is not allowed')
        return super().visit_Call(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        return call

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        # RestrictedPython refuses `d["k"] += 1`, which workflow scripts use all the time. When the target
        # is side-effect free it is rewritten to `d["k"] = _inplacevar_("+=", d["k"], 1)` and then guarded
        # like any other item read and write.
        if isinstance(node.target, ast.Subscript) and _is_pure(node.target):
            container = self.visit(node.target.value)
            key = self.visit(node.target.slice)
            value = self.visit(node.value)
            current = ast.Call(
                func=ast.Name("_getitem_", ast.Load()),
                args=[copy.deepcopy(container), copy.deepcopy(key)],
                keywords=[],
            )
            updated = ast.Call(
                func=ast.Name("_inplacevar_", ast.Load()),
                args=[ast.Constant(IOPERATOR_TO_STR[type(node.op)]), current, value],
                keywords=[],
            )
            target = ast.Subscript(
                value=ast.Call(func=ast.Name("_write_", ast.Load()), args=[container], keywords=[]),
                slice=key,
                ctx=ast.Store(),
            )
            assign = ast.Assign(targets=[target], value=updated)
            copy_locations(assign, node)
            ast.fix_missing_locations(assign)
            return assign
        if isinstance(node.target, ast.Subscript):
            self.error(node, _AUGASSIGN_EN)
            return node
        return super().visit_AugAssign(node)

    def visit_While(self, node: ast.While) -> ast.AST:
        node = self.node_contents_visit(node)
        node.body.insert(0, _budget_check_stmt(node))
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        node = super().visit_ExceptHandler(node)
        node.body.insert(0, _budget_check_stmt(node))
        return node

    def visit_Try(self, node: ast.Try) -> ast.AST:
        node = super().visit_Try(node)
        if node.finalbody:
            node.finalbody.insert(0, _budget_check_stmt(node.finalbody[0]))
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        spec = node.format_spec
        if spec is not None:
            for part in getattr(spec, "values", [spec]):
                if isinstance(part, ast.FormattedValue):
                    self.error(node, _FORMAT_DYNAMIC_EN)
                elif isinstance(part, ast.Constant) and _HUGE_NUMBER.search(str(part.value)):
                    self.error(node, _FORMAT_HUGE_EN)
        return super().visit_FormattedValue(node)


@dataclass(frozen=True)
class Problem:
    line: int | None
    zh: str
    en: str


@dataclass(frozen=True)
class Compiled:
    code: CodeType | None
    problems: tuple[Problem, ...]


def _problem(raw: str) -> Problem:
    match = _LINE_PREFIX.match(raw)
    line, text = (int(match.group(1)), match.group(2)) if match else (None, raw)
    text = text.strip()
    for pattern, zh in _ZH:
        found = pattern.search(text)
        if found:
            return Problem(line, zh.format(**found.groupdict()), text)
    return Problem(line, f"脚本包含不允许的内容：{text}", text)


def prepare_source(source: str, mode: str) -> str:
    """What gets compiled: expressions lose surrounding whitespace, scripts lose common indentation.

    BPMN editors indent element text; both changes keep line numbers intact.
    """
    if mode == "eval":
        return source.strip()
    return textwrap.dedent(source)


@functools.lru_cache(maxsize=4096)
def compile_cached(source: str, mode: str) -> Compiled:
    """Compile once per (source, mode); failures are cached too, as data, not as exceptions."""
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(prepare_source(source, mode), filename=SCRIPT_FILENAME, policy=SandboxPolicy)
    if result.errors or result.code is None:
        problems = tuple(_problem(e) for e in result.errors) or (Problem(None, "无法编译", "cannot compile"),)
        return Compiled(None, problems)
    return Compiled(result.code, ())


def compile_restricted(source: str | None, mode: str) -> CodeType:
    """Return the code object or raise ScriptError(code="script_forbidden") with the script's line."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"unknown mode {mode!r}")
    if source is None or not source.strip():
        kind_zh, kind_en = ("表达式", "expression") if mode == "eval" else ("脚本", "script")
        raise ScriptError(f"{kind_zh}为空", f"empty {kind_en}", code=CODE_SCRIPT_FORBIDDEN)
    compiled = compile_cached(source, mode)
    if compiled.code is None:
        first = compiled.problems[0]
        raise ScriptError(first.zh, first.en, code=CODE_SCRIPT_FORBIDDEN, line=first.line)
    return compiled.code
