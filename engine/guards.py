"""Run-time guards and the builtins a sandboxed script sees.

The policy (policy.py) rewrites scripts so that attribute access, item access, iteration, augmented
assignment and the operators `+ * ** << %` call the functions below. They refuse what a single C call could
turn into unbounded CPU or memory use, which the time budget cannot interrupt: `10**10**10`, `'a'*10**10`,
`'x'.ljust(10**10)`, `round(5, -10**9)`, `list(range(10**9))`. Everything not listed in SAFE_BUILTINS does
not exist for a script: no __import__, open, exec, eval, compile, getattr, type, iter.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, NoReturn

from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    raise_,
    safe_builtins,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector

from . import clock
from .errors import CODE_SANDBOX, ScriptError

MAX_ITEMS = 1_000_000  # elements of one list/tuple/range, characters of one string
MAX_INT_BITS = 10_000  # about 3000 decimal digits
MAX_ROUND_DIGITS = 1_000

_SEQUENCES = (str, list, tuple, bytes, bytearray)


def _refuse(zh: str, en: str) -> NoReturn:
    raise ScriptError(zh, en, code=CODE_SANDBOX)


def _too_many(count: float) -> None:
    if count > MAX_ITEMS:
        _refuse(
            f"结果过大（超过 {MAX_ITEMS} 个元素或字符）",
            f"result too large (more than {MAX_ITEMS} items or characters)",
        )


def _too_big_int(bits: float) -> None:
    if bits > MAX_INT_BITS:
        _refuse(f"整数过大（超过 {MAX_INT_BITS} 位）", f"integer too large (more than {MAX_INT_BITS} bits)")


def _is_int(value: object) -> bool:
    return isinstance(value, int)


# --- operators -------------------------------------------------------------------------------------


def check_add(a: Any, b: Any) -> None:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _too_many(len(a) + len(b))


_CONTAINERS = (str, list, tuple, dict, set, frozenset, bytes, bytearray)


def _repeated_weight(seq: Any) -> int:
    """Items one copy of `seq` stands for: `[big_list] * n` is n * len(big_list) items to print or compare."""
    if isinstance(seq, str | bytes | bytearray):
        return len(seq)
    return len(seq) + sum(len(item) for item in seq if isinstance(item, _CONTAINERS))


def check_mul(a: Any, b: Any) -> None:
    if _is_int(a) and _is_int(b):
        _too_big_int(a.bit_length() + b.bit_length())
    elif isinstance(a, _SEQUENCES) and _is_int(b):
        _too_many(_repeated_weight(a) * max(b, 0))
    elif _is_int(a) and isinstance(b, _SEQUENCES):
        _too_many(_repeated_weight(b) * max(a, 0))


def check_pow(a: Any, b: Any) -> None:
    if _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1:
        _too_big_int(a.bit_length() * b)


def check_lshift(a: Any, b: Any) -> None:
    if _is_int(a) and _is_int(b) and a != 0 and b > 0:
        _too_big_int(a.bit_length() + b)


# "%0999999999d", "%*d" and "%.*f" ask printf-style formatting for arbitrarily wide output.
_WIDE_FORMAT = re.compile(r"%[#0\- +]*(?:\*|\d{7,})|%[#0\- +]*\d*\.(?:\*|\d{7,})")


def check_mod(a: Any, b: Any) -> None:
    if isinstance(a, str | bytes) and _WIDE_FORMAT.search(a if isinstance(a, str) else a.decode("latin-1")):
        _refuse("格式宽度或精度过大", "format width or precision too large")


def guard_add(a: Any, b: Any) -> Any:
    check_add(a, b)
    return a + b


def guard_mul(a: Any, b: Any) -> Any:
    check_mul(a, b)
    return a * b


def guard_pow(a: Any, b: Any, mod: Any = None) -> Any:
    if mod is not None:
        return pow(a, b, mod)  # modular exponentiation stays small
    check_pow(a, b)
    return a**b


def guard_lshift(a: Any, b: Any) -> Any:
    check_lshift(a, b)
    return a << b


def guard_mod(a: Any, b: Any) -> Any:
    check_mod(a, b)
    return a % b


_INPLACE: dict[str, tuple[Callable[[Any, Any], None] | None, Callable[[Any, Any], Any]]] = {
    "+=": (check_add, operator.iadd),
    "-=": (None, operator.isub),
    "*=": (check_mul, operator.imul),
    "/=": (None, operator.itruediv),
    "//=": (None, operator.ifloordiv),
    "%=": (check_mod, operator.imod),
    "**=": (check_pow, operator.ipow),
    "<<=": (check_lshift, operator.ilshift),
    ">>=": (None, operator.irshift),
    "&=": (None, operator.iand),
    "|=": (None, operator.ior),
    "^=": (None, operator.ixor),
    "@=": (None, operator.imatmul),
}


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """`x += y` and friends; in-place so that aliased lists behave as in plain Python."""
    check, apply = _INPLACE[op]
    if check is not None:
        check(target, value)
    return apply(target, value)


# --- attribute access ------------------------------------------------------------------------------


def _materialise(items: Iterable[Any]) -> list[Any]:
    result = list(items)  # every iterable a script can reach is bounded (see guarded_range) or traced
    _too_many(len(result))
    return result


def _str_pad(method: Callable[..., str]) -> Callable[..., str]:
    def padded(self: str, width: int, *rest: Any) -> str:
        _too_many(width)
        return method(self, width, *rest)

    return padded


def _str_expandtabs(self: str, tabsize: int = 8) -> str:
    _too_many(len(self) + self.count("\t") * max(tabsize, 0))
    return str.expandtabs(self, tabsize)


def _str_replace(self: str, old: str, new: str, count: int = -1) -> str:
    hits = len(self) + 1 if old == "" else self.count(old)
    if count >= 0:
        hits = min(hits, count)
    _too_many(len(self) + hits * (len(new) - len(old)))
    return str.replace(self, old, new, count)


def _str_join(self: str, iterable: Iterable[Any]) -> str:
    items = _materialise(iterable)
    _too_many(sum(len(i) for i in items if isinstance(i, str)) + len(self) * max(len(items) - 1, 0))
    return str.join(self, items)


def _str_translate(self: str, table: Any) -> str:
    longest = 1
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
    _too_many(len(self) * max(longest, 1))
    return str.translate(self, table)


def _list_extend(self: list[Any], iterable: Iterable[Any]) -> None:
    items = iterable if isinstance(iterable, list | tuple) else _materialise(iterable)
    _too_many(len(self) + len(items))
    list.extend(self, items)


MAX_FORMAT_LENGTH = 1_000


def _strftime(self: date | time, fmt: str) -> str:
    # CPython retries C strftime with a buffer of up to 256 x len(fmt) bytes; glibc also honours widths
    # such as "%999999999Y". A date format is short.
    if len(fmt) > MAX_FORMAT_LENGTH:
        _refuse("日期格式过长", "date format too long")
    return type(self).strftime(self, fmt)


_WRAPPED_METHODS: dict[type, dict[str, Callable[..., Any]]] = {
    str: {
        "center": _str_pad(str.center),
        "ljust": _str_pad(str.ljust),
        "rjust": _str_pad(str.rjust),
        "zfill": _str_pad(str.zfill),
        "expandtabs": _str_expandtabs,
        "replace": _str_replace,
        "join": _str_join,
        "translate": _str_translate,
    },
    list: {"extend": _list_extend},
    date: {"strftime": _strftime},  # datetime too, through the MRO
    time: {"strftime": _strftime},
}

# Methods that produce bytes or otherwise leave the world of JSON data without any use in a workflow.
_BLOCKED_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({"encode", "format", "format_map"}),
    int: frozenset({"to_bytes"}),
}


def guarded_getattr(obj: Any, name: str, default: Any = raise_) -> Any:
    """RestrictedPython's safer_getattr (no "_" names, no str.format) plus size-aware string/list methods."""
    value = safer_getattr(obj, name, default)
    owner = obj if isinstance(obj, type) else type(obj)
    for klass in owner.__mro__:
        if name in _BLOCKED_METHODS.get(klass, ()):
            _refuse(f"脚本不允许使用方法 “{name}”", f'the method "{name}" is not allowed in scripts')
        wrapper = _WRAPPED_METHODS.get(klass, {}).get(name)
        if wrapper is not None:
            return wrapper if obj is owner else functools.partial(wrapper, obj)
    return value


def guarded_getitem(obj: Any, index: Any) -> Any:
    return obj[index]


def guarded_apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


# --- builtins that need limits ---------------------------------------------------------------------


def guarded_range(*args: int) -> range:
    """range() capped at MAX_ITEMS: C code such as `x in range(...)` or `sum(range(...))` cannot be traced."""
    result = range(*args)
    try:
        length = len(result)
    except OverflowError:
        length = MAX_ITEMS + 1
    _too_many(length)
    return result


def guarded_sum(iterable: Iterable[Any], start: Any = 0) -> Any:
    """sum() of numbers runs in C; anything else (sum(lists, [])) is repeated concatenation, done step by
    step through the `+` guard so that neither size nor time can run away inside one C call."""
    if isinstance(start, int | float | complex):
        return sum(iterable, start)
    total = start
    for item in iterable:
        total = guard_add(total, item)
    return total


def guarded_round(number: Any, ndigits: Any = None) -> Any:
    # round(5, -10**9) computes 10**(10**9) in C.
    if _is_int(ndigits) and abs(ndigits) > MAX_ROUND_DIGITS:
        _refuse("round() 的位数过大", "too many digits for round()")
    return round(number) if ndigits is None else round(number, ndigits)


def _now() -> datetime:
    return clock.now()


def _today() -> date:
    return clock.today()


_REMOVED_BUILTINS = {
    "__build_class__",  # class definitions are refused anyway
    "setattr",
    "delattr",
    "id",  # memory addresses, non-deterministic and useless in data
    "pow",
    "range",
    "round",
    # A script must not be able to stop the worker or fake an interrupt.
    "SystemExit",
    "KeyboardInterrupt",
    "GeneratorExit",
    "BaseException",
}


def _build_builtins() -> dict[str, Any]:
    names = {k: v for k, v in safe_builtins.items() if k not in _REMOVED_BUILTINS}
    names.update(
        {
            # Harmless builtins RestrictedPython leaves to the integrator. They consume iterables in C,
            # which is fine because every iterable a script can build is bounded or traced.
            "min": min,
            "max": max,
            "sum": guarded_sum,
            "sorted": sorted,
            "any": any,
            "all": all,
            "list": list,
            "dict": dict,
            "set": set,
            "frozenset": frozenset,
            "tuple": tuple,
            "enumerate": enumerate,
            "zip": zip,
            "reversed": reversed,
            "map": map,
            "filter": filter,
            "pow": guard_pow,
            "range": guarded_range,
            "round": guarded_round,
            # Dates: the classes are safe, their dunder attributes are out of reach like all others.
            "datetime": datetime,
            "date": date,
            "time": time,
            "timedelta": timedelta,
            "timezone": timezone,
            "now": _now,
            "today": _today,
            # Guards called by code the policy generates.
            "_getattr_": guarded_getattr,
            "_getitem_": guarded_getitem,
            "_getiter_": iter,
            "_write_": full_write_guard,
            "_inplacevar_": guarded_inplacevar,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_print_": PrintCollector,
            "_apply_": guarded_apply,
            "_guard_add_": guard_add,
            "_guard_mul_": guard_mul,
            "_guard_pow_": guard_pow,
            "_guard_lshift_": guard_lshift,
            "_guard_mod_": guard_mod,
        }
    )
    return names


SAFE_BUILTINS: dict[str, Any] = _build_builtins()
