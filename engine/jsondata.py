"""Rules for the data a case may hold, and its conversion to plain JSON for display.

A case is stored as JSON by the Spiff serializer, which also knows datetime, date (registered by the runtime)
and timedelta. Everything else would either fail at save time, far from its cause, or change silently on the
way back (int keys become strings, sets become lists). So values are checked where they enter: initial
data, form input and the variables a script leaves behind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

MAX_DEPTH = 64
MAX_NODES = 1_000_000
_MAX_INT_BITS = 14_000  # json refuses to print ints of more than 4300 digits
# The serializer treats any dict with this key as one of its own typed objects.
RESERVED_KEY = "typename"

_SCALARS = (str, bool, int, float, type(None), datetime, date, timedelta)


class DataProblem(ValueError):
    def __init__(self, path: str, zh: str, en: str) -> None:
        super().__init__(f"{path}: {en}")
        self.path = path
        self.zh = zh
        self.en = en


def _path(parent: str, key: object) -> str:
    return f"{parent}[{key!r}]" if parent else str(key)


def check_data(data: Mapping[str, Any], prefix: str = "", sizes: dict[str, int] | None = None) -> int:
    """Raise DataProblem naming the first value that cannot be stored in a case.

    Returns the approximate size of `data` as JSON, in characters (what engine.limits bounds); `sizes`, when
    given, receives the size of each top-level key.
    """
    budget = [MAX_NODES, 2]
    on_path: set[int] = set()
    for key, value in data.items():
        if not isinstance(key, str):
            raise DataProblem(_path(prefix, key), "变量名必须是字符串", "variable names must be strings")
        before = budget[1]
        budget[1] += len(key) + 4
        _check(value, _path(prefix, key), 1, on_path, budget)
        if sizes is not None:
            sizes[key] = budget[1] - before
    return budget[1]


def _check(value: Any, path: str, depth: int, on_path: set[int], budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise DataProblem(path, "数据量过大", "too much data")
    if depth > MAX_DEPTH:
        raise DataProblem(path, "数据嵌套层次过深", "data nested too deeply")
    budget[1] += len(value) + 3 if isinstance(value, str) else 8
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            raise DataProblem(path, "数值不能是 NaN 或无穷大", "numbers cannot be NaN or infinite")
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            raise DataProblem(path, "整数过大", "integer too large")
        return
    if isinstance(value, dict | list | tuple):
        if id(value) in on_path:
            raise DataProblem(path, "数据包含循环引用", "data contains a reference cycle")
        on_path.add(id(value))
        try:
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, str):
                        raise DataProblem(
                            _path(path, key),
                            "字典的键必须是字符串",
                            "dictionary keys must be strings",
                        )
                    if key == RESERVED_KEY:
                        raise DataProblem(
                            _path(path, key),
                            f"“{RESERVED_KEY}” 是保留的键名",
                            f'"{RESERVED_KEY}" is a reserved key',
                        )
                    budget[1] += len(key) + 4
                    _check(item, _path(path, key), depth + 1, on_path, budget)
            else:
                for index, item in enumerate(value):
                    _check(item, _path(path, index), depth + 1, on_path, budget)
        finally:
            on_path.discard(id(value))
        return
    if isinstance(value, set | frozenset):
        raise DataProblem(path, "集合（set）不能保存，请改用列表", "sets cannot be stored, use a list")
    raise DataProblem(
        path,
        f"类型 {type(value).__name__} 的值不能保存",
        f"values of type {type(value).__name__} cannot be stored",
    )


def iso_duration(delta: timedelta) -> str:
    """ISO 8601 duration text for a timedelta, e.g. P1DT2H30M."""
    sign = "-" if delta < timedelta(0) else ""
    delta = abs(delta)
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    seconds_text = (
        f"{seconds}.{delta.microseconds:06d}".rstrip("0").rstrip(".") if delta.microseconds else str(seconds)
    )
    time_part = "".join(f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M")) if value) + (
        f"{seconds_text}S" if seconds or delta.microseconds else ""
    )
    days_part = f"{delta.days}D" if delta.days else ""
    if not days_part and not time_part:
        return "PT0S"
    return f"{sign}P{days_part}" + (f"T{time_part}" if time_part else "")


def to_json_safe(value: Any) -> Any:
    """A copy of `value` made of JSON types only (dates as ISO text) for pages and APIs."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, dict):
        return {str(k): to_json_safe(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, list | tuple):
        return [to_json_safe(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((to_json_safe(v) for v in value), key=repr)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
