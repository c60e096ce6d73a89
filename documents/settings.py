"""Settings printed on every document: from app config (config.py), each overridable from the environment.

    DEPARTMENT_NAME              the issuing department, on every document and page header (默认 吉林省环境保护厅,
                                 the name the plan 吉环法字〔2018〕3号 uses)
    DOCUMENT_ISSUER              the issuer line above the date (default: the department name)
    DOCUMENT_SEAL                the seal named in brackets on the signature line (default 行政审批专用章)
    WINDOW_ADDRESS, WINDOW_PHONE, WINDOW_HOURS   the window's contact, in every document's footer (an empty
                                 address prints "<department>行政审批窗口")
    APPEAL_REVIEW_BODY           where 行政复议 is applied for (default 吉林省人民政府, 行政复议法 2023 Art.24)
    DOCUMENT_NUMBER_FORMAT_<KIND>   number format of one kind, e.g. DOCUMENT_NUMBER_FORMAT_ACCEPTANCE_NOTICE=
                                 "吉环受字〔{year}〕第{n}号"; placeholders {year} and {n} (format spec allowed: {n:04d})
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from documents.kinds import KINDS

DEFAULT_DEPARTMENT_NAME = "吉林省环境保护厅"
DEFAULT_SEAL = "行政审批专用章"
DEFAULT_APPEAL_REVIEW_BODY = "吉林省人民政府"

# Setting name → default; every one may come from the app config or, failing that, the environment.
TEXT_SETTINGS: dict[str, str] = {
    "DEPARTMENT_NAME": DEFAULT_DEPARTMENT_NAME,
    "DOCUMENT_ISSUER": "",  # empty: the department name
    "DOCUMENT_SEAL": DEFAULT_SEAL,
    "WINDOW_ADDRESS": "",  # empty: "<department> 行政审批窗口"
    "WINDOW_PHONE": "",
    "WINDOW_HOURS": "",
    "APPEAL_REVIEW_BODY": DEFAULT_APPEAL_REVIEW_BODY,
}
FORMAT_PREFIX = "DOCUMENT_NUMBER_FORMAT_"


class SettingsError(ValueError):
    """A document setting cannot be used (e.g. a number format without {n}); raised when the app starts."""


def check_number_format(kind: str, fmt: str) -> None:
    """A format may use {year} and {n} only, must use {n}, and must format a sample number."""
    names = set()
    try:
        for _literal, name, _spec, _conversion in string.Formatter().parse(fmt):
            if name is not None:
                names.add(name)
        fmt.format(year=2018, n=1)
    except (ValueError, IndexError, KeyError) as err:
        raise SettingsError(f"{FORMAT_PREFIX}{kind.upper()}: {fmt!r} is not a valid format ({err})") from err
    if "n" not in names:
        raise SettingsError(f"{FORMAT_PREFIX}{kind.upper()}: {fmt!r} must contain {{n}} (the sequence number)")
    unknown = names - {"year", "n"}
    if unknown:
        raise SettingsError(f"{FORMAT_PREFIX}{kind.upper()}: {fmt!r} uses unknown placeholders {sorted(unknown)}; "
                            "only {year} and {n}")


@dataclass(frozen=True)
class DocumentSettings:
    department_name: str = DEFAULT_DEPARTMENT_NAME
    issuer: str = ""
    seal: str = DEFAULT_SEAL
    window_address: str = ""
    window_phone: str = ""
    window_hours: str = ""
    appeal_review_body: str = DEFAULT_APPEAL_REVIEW_BODY
    number_formats: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({k: v.number_format for k, v in KINDS.items()})
    )

    def __post_init__(self) -> None:
        if not self.department_name.strip():
            raise SettingsError("DEPARTMENT_NAME must not be empty")
        for kind, fmt in self.number_formats.items():
            if kind not in KINDS:
                raise SettingsError(f"{FORMAT_PREFIX}{kind.upper()}: no document kind {kind!r}")
            check_number_format(kind, fmt)

    @property
    def issuer_line(self) -> str:
        return self.issuer or self.department_name

    @property
    def window_place(self) -> str:
        """Where the window is: the setting, else derived from the department's name (never a second copy)."""
        return self.window_address or f"{self.department_name}行政审批窗口"

    def number(self, kind: str, year: int, n: int) -> str:
        return self.number_formats[kind].format(year=year, n=n)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
                    ) -> DocumentSettings:
        """App config first, then the environment, then the defaults. DOCUMENT_NUMBER_FORMATS (a mapping
        kind → format) in the config, or DOCUMENT_NUMBER_FORMAT_<KIND> keys, replace single formats."""
        config = config or {}
        env = os.environ if environ is None else environ

        def value(key: str, default: str) -> str:
            raw = config.get(key)
            if raw is None:
                raw = env.get(key)
            return default if raw is None else str(raw).strip()

        formats = {k: v.number_format for k, v in KINDS.items()}
        for kind in KINDS:
            key = FORMAT_PREFIX + kind.upper()
            raw = config.get(key, env.get(key))
            if raw:
                formats[kind] = str(raw)
        formats.update(dict(config.get("DOCUMENT_NUMBER_FORMATS") or {}))
        return cls(
            department_name=value("DEPARTMENT_NAME", DEFAULT_DEPARTMENT_NAME),
            issuer=value("DOCUMENT_ISSUER", ""),
            seal=value("DOCUMENT_SEAL", DEFAULT_SEAL),
            window_address=value("WINDOW_ADDRESS", ""),
            window_phone=value("WINDOW_PHONE", ""),
            window_hours=value("WINDOW_HOURS", ""),
            appeal_review_body=value("APPEAL_REVIEW_BODY", DEFAULT_APPEAL_REVIEW_BODY),
            number_formats=MappingProxyType(formats),
        )


def config_values(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings as app-config entries (config.py): each from the environment, else its default."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {key: env.get(key, default) for key, default in TEXT_SETTINGS.items()}
    values["DOCUMENT_NUMBER_FORMATS"] = {
        kind: env.get(FORMAT_PREFIX + kind.upper(), k.number_format) for kind, k in KINDS.items()
    }
    return values
