"""Exceptions the engine raises towards the service and web layers.

No translation layer exists inside the engine, so every message is bilingual: Chinese first, then English,
joined by " / ". The structured fields (filename, line, element_id, code) stay on the exception so the web
layer can build its own wording.
"""

from __future__ import annotations

# Machine codes of BpmnError: a diagram that cannot be accepted.
CODE_TOO_LARGE = "too_large"  # file bigger than the configured limit
CODE_ENCODING = "encoding"  # not an ASCII-compatible encoding (UTF-16/32), cannot be screened safely
CODE_DOCTYPE = "doctype"  # DOCTYPE / ENTITY declarations (XXE, billion laughs, external DTD)
CODE_XML = "xml"  # not well-formed XML
CODE_XSD = "xsd"  # does not conform to the BPMN 2.0 schema
CODE_PARSE = "parse"  # SpiffWorkflow's parser refused the diagram
CODE_RESERVED_ID = "reserved_id"  # an element id that clashes with SpiffWorkflow's internal task names
CODE_SCRIPT_FORBIDDEN = "script_forbidden"  # a script or expression fails the restricted compiler
CODE_TIMER = "timer"  # a literal timer value that is not valid ISO 8601
CODE_JUEL = "juel_unsupported"  # a ${...} expression the JUEL adapter cannot translate
CODE_NO_PROCESS = "no_process"  # no executable process in the files
CODE_AMBIGUOUS_PROCESS = "ambiguous_process"  # several candidate main processes, pass process_id
CODE_UNKNOWN_PROCESS = "unknown_process"  # the requested process_id does not exist
CODE_CALL_RECURSION = "call_recursion"  # call activities that call their own process, directly or in a ring
CODE_BOUND = "bound"  # a literal value over an engine bound (multi-instance cardinality, timer cycle interval)

# Machine codes of ScriptError: a script or expression failed at run time.
CODE_SCRIPT_ERROR = "script_error"  # the script raised an ordinary exception (NameError, KeyError, ...)
CODE_SANDBOX = "sandbox"  # a guard refused an operation (result too large, attribute not allowed, ...)
CODE_TIMEOUT = "timeout"  # the time budget ran out
CODE_MEMORY = "memory"  # the memory growth budget ran out
CODE_DATA = "data_invalid"  # the script left data that cannot be stored as JSON
CODE_WORKFLOW = "workflow_error"  # SpiffWorkflow itself failed (no gateway condition matched, ...)
CODE_LIMIT = "limit"  # a bound of the engine (steps, tasks, instances, depth, timer cycle, data size) was hit


def bilingual(zh: str, en: str) -> str:
    """The one format for user-facing text inside the engine."""
    return f"{zh} / {en}" if en else zh


class BpmnError(Exception):
    """A diagram that cannot be accepted (at upload/deploy time)."""

    def __init__(
        self,
        code: str,
        zh: str,
        en: str = "",
        *,
        filename: str = "",
        line: int | None = None,
        element_id: str | None = None,
    ) -> None:
        self.code = code
        self.filename = filename
        self.line = line
        self.element_id = element_id
        self.message_zh = zh
        self.message_en = en
        self.message = bilingual(zh, en)
        super().__init__(str(self))

    def _where_zh(self) -> str:
        parts = [self.filename] if self.filename else []
        if self.line is not None:
            parts.append(f"第 {self.line} 行")
        if self.element_id:
            parts.append(f"元素 {self.element_id}")
        return "，".join(parts)

    def _where_en(self) -> str:
        parts = [self.filename] if self.filename else []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.element_id:
            parts.append(f"element {self.element_id}")
        return ", ".join(parts)

    def __str__(self) -> str:
        zh = f"{self._where_zh()}：{self.message_zh}" if self._where_zh() else self.message_zh
        if not self.message_en:
            return zh
        en = f"{self._where_en()}: {self.message_en}" if self._where_en() else self.message_en
        return f"{zh} / {en}"


class ScriptError(Exception):
    """A script or expression failed or was stopped at run time.

    `line` is the line inside the script (1-based) when known, not a line of the BPMN file.
    """

    default_code = CODE_SCRIPT_ERROR

    def __init__(
        self,
        zh: str,
        en: str = "",
        *,
        code: str | None = None,
        element_id: str | None = None,
        line: int | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.element_id = element_id
        self.line = line
        self.message_zh = zh
        self.message_en = en
        self.message = bilingual(zh, en)
        super().__init__(self.message)

    def locate(self, element_id: str | None) -> None:
        """Name the element where this happened, unless already known."""
        if self.element_id is None and element_id:
            self.element_id = element_id
            self._located()

    def _located(self) -> None:
        """Hook for messages that name the element themselves."""

    def __str__(self) -> str:
        if not self.element_id:
            return self.message
        zh = f"元素 {self.element_id}：{self.message_zh}"
        if not self.message_en:
            return zh
        return f"{zh} / element {self.element_id}: {self.message_en}"


class VariableUnset(ScriptError):
    """A script or expression read a variable that the case does not have (Python's NameError).

    Never shown as a raw NameError: the message says which variable and, once known, at which element.
    """

    default_code = CODE_SCRIPT_ERROR

    def __init__(self, name: str, *, element_id: str | None = None, line: int | None = None) -> None:
        self.name = name
        super().__init__(*self._texts(name, element_id), element_id=element_id, line=line)

    @staticmethod
    def _texts(name: str, element_id: str | None) -> tuple[str, str]:
        if element_id:
            return (f"变量 “{name}” 未定义（元素 {element_id}）", f"variable {name} is not set at element {element_id}")
        return f"变量 “{name}” 未定义", f"variable {name} is not set"

    def _located(self) -> None:
        self.message_zh, self.message_en = self._texts(self.name, self.element_id)
        self.message = bilingual(self.message_zh, self.message_en)
        self.args = (self.message,)

    def __str__(self) -> str:
        return self.message  # the message already names the element


class ScriptTimeout(ScriptError):
    """The script ran out of its time budget (an endless loop, usually)."""

    default_code = CODE_TIMEOUT


class DataError(ValueError):
    """Data offered to the engine (initial data, form input) that cannot be stored in a case."""

    def __init__(self, zh: str, en: str = "", *, path: str = "") -> None:
        self.path = path
        self.message_zh = zh
        self.message_en = en
        self.message = bilingual(zh, en)
        super().__init__(self.message)
