"""Typed loader for ``workflows/catalog.toml`` (the matters, units, limits and service modes).

    from workflows.catalog import load_catalog
    cat = load_catalog()                 # or load_catalog("other.toml")
    m = cat.matter("m01")                # Matter (frozen dataclass)
    m.promised_for("table")              # Limit(value=30, unit="days", ...)
    cat.unit(m.responsible_unit).name_zh # "环评处"
    m.materials                          # tuple[MaterialItem, ...]: the 申请材料目录, in catalog order
    m.material("eia_document").name_zh   # KeyError for an unknown code
    m.max_upload_bytes                   # per-file upload limit (max_upload_mb, default 50 MiB)

Every problem in the file is collected and raised together as one ``CatalogError`` whose message names the
matter/unit and the key, e.g. ``catalog.toml: matters[3] (m04): statutory_limit.unit 'weeks' is not one of ...``.
"""

from __future__ import annotations

import calendar
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("catalog.toml")

LIMIT_UNITS = ("working_days", "days", "applicant_due")
STEP_KINDS = ("supplement", "expert_review", "applicant_revision", "public_notice", "hearing")
CHANNELS = ("window", "post", "online")
DELIVERY_MODES = ("window", "post", "online")
MATTER_KINDS = ("approval", "filing")
REPORT_TYPES = ("report", "table")
MATERIAL_REQUIREMENTS = ("required", "conditional")
MATERIAL_FORMS = ("original", "copy", "electronic")
MATERIAL_FORM_ZH = {"original": "原件", "copy": "复印件", "electronic": "电子件"}
RESERVED_MATERIAL_CODES = ("other",)  # the 一次性告知书 offers "other" beside the matter's items
MIB = 1024 * 1024
DEFAULT_MAX_UPLOAD_MB = 50
MAX_UPLOAD_MB_CEILING = 2048  # a typo (20000) should not open the door to 20 GB uploads
DEADLINE_RELATIVE_TO = ("activity_start", "activity_end", "following_year")

CHANNEL_ZH = {"window": "现场申请", "post": "邮寄申请", "online": "网上申请"}
DELIVERY_ZH = {"window": "现场取件", "post": "邮寄送达", "online": "网上下载"}


class CatalogError(ValueError):
    """The catalog file is missing, unreadable or inconsistent; the message lists every problem."""


@dataclass(frozen=True)
class Unit:
    code: str
    name_zh: str
    name_en: str
    role: str = ""


@dataclass(frozen=True)
class Limit:
    value: int | None  # None only with unit == "applicant_due"
    unit: str  # working_days | days | applicant_due
    note: str = ""
    confirmed: bool = True
    extendable_by: int | None = None  # e.g. +10 working days with the head's approval (行政许可法 Art.42)


@dataclass(frozen=True)
class ApplicantDeadline:
    kind: str
    note: str = ""
    confirmed: bool = True
    value: int | None = None
    unit: str | None = None  # days | working_days
    relative_to: str | None = None  # activity_start | activity_end | following_year
    direction: str | None = None  # before | after
    due_month_day: str | None = None  # "01-31"


@dataclass(frozen=True)
class ServiceMode:
    channel: str
    delivery_mode: str

    @property
    def label_zh(self) -> str:
        return f"{CHANNEL_ZH[self.channel]}、{DELIVERY_ZH[self.delivery_mode]}"


@dataclass(frozen=True)
class MaterialItem:
    """One entry of a matter's 申请材料目录 (what the applicant hands in)."""

    code: str  # stable, unique within the matter, e.g. "application_form"
    name_zh: str
    name_en: str
    requirement: str  # "required" | "conditional"
    condition_zh: str | None  # the condition in words when conditional
    condition_en: str | None
    form: str  # "original" | "copy" | "electronic"
    copies: int
    note_zh: str | None
    source: str | None  # legal source where known
    unconfirmed: bool  # true unless a source settled the item (catalog key confirmed = false)

    @property
    def required(self) -> bool:
        return self.requirement == "required"

    @property
    def form_zh(self) -> str:
        return MATERIAL_FORM_ZH[self.form]


@dataclass(frozen=True)
class PublicNotice:
    """A 公示 the matter's diagram publishes (user task ``task``), and its minimum period."""

    task: str  # the publishing user task's id in the diagram, e.g. "publish_acceptance_public_notice"
    name_zh: str
    min_working_days: int  # both the first and the last day count
    source: str | None = None
    note: str | None = None
    confirmed: bool = True


@dataclass(frozen=True)
class Matter:
    code: str
    number: int
    name_zh: str
    name_en: str
    kind: str
    unit: str  # unit code; "" when the plan names none (see unit_missing_in_plan / owner)
    owner: str  # unit code that handles the matter: = unit, or the configured owner when unit is ""
    unit_missing_in_plan: bool
    run_once_month: str  # "04"
    legal_basis: str
    statutory_limit: Limit | None
    statutory_limit_note: str
    promised_limit: Limit
    excluded_time: tuple[str, ...]
    service_modes: tuple[ServiceMode, ...]
    diagram: str
    process_id: str
    statutory_limit_by_report_type: Mapping[str, Limit] = field(default_factory=lambda: MappingProxyType({}))
    promised_limit_by_report_type: Mapping[str, Limit] = field(default_factory=lambda: MappingProxyType({}))
    applicant_deadlines: tuple[ApplicantDeadline, ...] = ()
    materials: tuple[MaterialItem, ...] = ()
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * MIB  # per uploaded file
    public_notices: tuple[PublicNotice, ...] = ()

    def notice_min_working_days(self, task: str) -> int | None:
        """The minimum 公示 period of the notice published by user task ``task`` (None: not a 公示 task)."""
        for notice in self.public_notices:
            if notice.task == task:
                return notice.min_working_days
        return None

    def material(self, code: str) -> MaterialItem:
        for item in self.materials:
            if item.code == code:
                return item
        raise KeyError(f"{self.code}: unknown material code {code!r}; known: "
                       f"{', '.join(i.code for i in self.materials)}")

    @property
    def required_materials(self) -> tuple[MaterialItem, ...]:
        return tuple(i for i in self.materials if i.required)

    @property
    def responsible_unit(self) -> str:
        return self.unit or self.owner

    def statutory_for(self, report_type: str | None = None) -> Limit | None:
        if report_type and report_type in self.statutory_limit_by_report_type:
            return self.statutory_limit_by_report_type[report_type]
        return self.statutory_limit

    def promised_for(self, report_type: str | None = None) -> Limit:
        if report_type and report_type in self.promised_limit_by_report_type:
            return self.promised_limit_by_report_type[report_type]
        return self.promised_limit

    def offers(self, channel: str, delivery_mode: str) -> bool:
        return ServiceMode(channel, delivery_mode) in self.service_modes


@dataclass(frozen=True)
class Catalog:
    plan_year: int
    plan_document: str
    matters: list[Matter]
    units: list[Unit]
    rollout_targets: tuple[tuple[str, float], ...]
    path: Path

    def matter(self, code: str) -> Matter:
        for m in self.matters:
            if m.code == code:
                return m
        raise KeyError(f"unknown matter code {code!r}; known: {', '.join(m.code for m in self.matters)}")

    def matter_by_process_id(self, process_id: str) -> Matter:
        for m in self.matters:
            if m.process_id == process_id:
                return m
        raise KeyError(f"no matter has process id {process_id!r}")

    def unit(self, code: str) -> Unit:
        for u in self.units:
            if u.code == code:
                return u
        raise KeyError(f"unknown unit code {code!r}; known: {', '.join(u.code for u in self.units)}")

    def unit_by_name(self, name_zh: str) -> Unit:
        for u in self.units:
            if u.name_zh == name_zh:
                return u
        raise KeyError(f"unknown unit name {name_zh!r}")

    def diagram_path(self, matter: Matter | str) -> Path:
        m = self.matter(matter) if isinstance(matter, str) else matter
        return self.path.parent / m.diagram

    def run_once_deadline(self, matter: Matter | str) -> date:
        """Last day of the matter's run-once month in the plan year."""
        m = self.matter(matter) if isinstance(matter, str) else matter
        month = int(m.run_once_month)
        return date(self.plan_year, month, calendar.monthrange(self.plan_year, month)[1])


# ---------------------------------------------------------------------------------------------------------------


class _Errors:
    def __init__(self, path: Path):
        self.path = path
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.path.name}: {where}: {message}")


def _get(errs: _Errors, where: str, table: Mapping, key: str, typ: type | tuple, *, required=True, default=None):
    if key not in table:
        if required:
            errs.add(where, f"missing key {key!r}")
        return default
    value = table[key]
    if typ is int and isinstance(value, bool) or not isinstance(value, typ):
        names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        errs.add(where, f"{key} must be {names}, got {value!r}")
        return default
    return value


def _limit(errs: _Errors, where: str, raw: Any) -> Limit | None:
    if not isinstance(raw, Mapping):
        errs.add(where, f"must be a table {{ value, unit }}, got {raw!r}")
        return None
    unknown = set(raw) - {"value", "unit", "note", "confirmed", "extendable_by"}
    if unknown:
        errs.add(where, f"unknown keys {sorted(unknown)}")
    unit = _get(errs, where, raw, "unit", str)
    if unit is not None and unit not in LIMIT_UNITS:
        errs.add(where, f"unit {unit!r} is not one of {', '.join(LIMIT_UNITS)}")
    value = _get(errs, where, raw, "value", int, required=unit != "applicant_due")
    if value is not None and value <= 0:
        errs.add(where, f"value must be a positive number of days, got {value}")
    ext = _get(errs, where, raw, "extendable_by", int, required=False)
    return Limit(value, unit or "", _get(errs, where, raw, "note", str, required=False, default=""),
                 _get(errs, where, raw, "confirmed", bool, required=False, default=True), ext)


def _limits_by_report_type(errs: _Errors, where: str, raw: Any) -> Mapping[str, Limit]:
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, Mapping):
        errs.add(where, "must be a table keyed by report type")
        return MappingProxyType({})
    out = {}
    for rt, lim in raw.items():
        if rt not in REPORT_TYPES:
            errs.add(where, f"report type {rt!r} is not one of {', '.join(REPORT_TYPES)}")
        parsed = _limit(errs, f"{where}.{rt}", lim)
        if parsed:
            out[rt] = parsed
    return MappingProxyType(out)


def _deadline(errs: _Errors, where: str, raw: Any) -> ApplicantDeadline | None:
    if not isinstance(raw, Mapping):
        errs.add(where, "must be a table")
        return None
    allowed = {"kind", "note", "confirmed", "value", "unit", "relative_to", "direction", "due_month_day"}
    if set(raw) - allowed:
        errs.add(where, f"unknown keys {sorted(set(raw) - allowed)}")
    d = ApplicantDeadline(
        kind=_get(errs, where, raw, "kind", str, default=""),
        note=_get(errs, where, raw, "note", str, required=False, default=""),
        confirmed=_get(errs, where, raw, "confirmed", bool, required=False, default=True),
        value=_get(errs, where, raw, "value", int, required=False),
        unit=_get(errs, where, raw, "unit", str, required=False),
        relative_to=_get(errs, where, raw, "relative_to", str, required=False),
        direction=_get(errs, where, raw, "direction", str, required=False),
        due_month_day=_get(errs, where, raw, "due_month_day", str, required=False),
    )
    if d.unit is not None and d.unit not in ("days", "working_days"):
        errs.add(where, f"unit {d.unit!r} is not days or working_days")
    if d.relative_to is not None and d.relative_to not in DEADLINE_RELATIVE_TO:
        errs.add(where, f"relative_to {d.relative_to!r} is not one of {', '.join(DEADLINE_RELATIVE_TO)}")
    if d.direction is not None and d.direction not in ("before", "after"):
        errs.add(where, f"direction {d.direction!r} is not before or after")
    if d.due_month_day is not None and not re.fullmatch(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", d.due_month_day):
        errs.add(where, f"due_month_day {d.due_month_day!r} is not MM-DD")
    if d.confirmed and d.value is None and d.due_month_day is None:
        errs.add(where, "a confirmed deadline needs value+unit+relative_to+direction or due_month_day")
    if d.value is not None and (d.unit is None or d.relative_to is None or d.direction is None):
        errs.add(where, "value needs unit, relative_to and direction")
    return d


def _material(errs: _Errors, where: str, raw: Any) -> MaterialItem | None:
    if not isinstance(raw, Mapping):
        errs.add(where, "must be a table")
        return None
    allowed = {"code", "name_zh", "name_en", "requirement", "condition_zh", "condition_en", "form", "copies",
               "note_zh", "source", "confirmed"}
    if set(raw) - allowed:
        errs.add(where, f"unknown keys {sorted(set(raw) - allowed)}")
    code = _get(errs, where, raw, "code", str, default="")
    if code and not re.fullmatch(r"[a-z][a-z0-9_]{1,47}", code):
        errs.add(where, f"code {code!r} must be snake_case (a-z, 0-9, _), 2-48 characters")
    if code in RESERVED_MATERIAL_CODES:
        errs.add(where, f"code {code!r} is reserved (the 补正 notice's free-text item)")
    name_zh = _get(errs, where, raw, "name_zh", str, default="")
    if name_zh is not None and not any("\u4e00" <= ch <= "\u9fff" for ch in name_zh):
        errs.add(where, f"name_zh {name_zh!r} must be Chinese")
    name_en = _get(errs, where, raw, "name_en", str, default="")
    requirement = _get(errs, where, raw, "requirement", str, default="")
    if requirement and requirement not in MATERIAL_REQUIREMENTS:
        errs.add(where, f"requirement {requirement!r} is not one of {', '.join(MATERIAL_REQUIREMENTS)}")
    cond_zh = _get(errs, where, raw, "condition_zh", str, required=False) or None
    cond_en = _get(errs, where, raw, "condition_en", str, required=False) or None
    if requirement == "conditional" and not (cond_zh and cond_en):
        errs.add(where, "a conditional item states its condition in condition_zh and condition_en")
    if requirement == "required" and (cond_zh or cond_en):
        errs.add(where, "a required item has no condition (make it conditional or drop the condition)")
    form = _get(errs, where, raw, "form", str, default="")
    if form and form not in MATERIAL_FORMS:
        errs.add(where, f"form {form!r} is not one of {', '.join(MATERIAL_FORMS)}")
    copies = _get(errs, where, raw, "copies", int, required=False, default=1)
    if copies is not None and not 1 <= copies <= 50:
        errs.add(where, f"copies must be 1-50, got {copies}")
    return MaterialItem(
        code=code or "", name_zh=name_zh or "", name_en=name_en or "", requirement=requirement or "",
        condition_zh=cond_zh, condition_en=cond_en, form=form or "", copies=copies or 1,
        note_zh=_get(errs, where, raw, "note_zh", str, required=False) or None,
        source=_get(errs, where, raw, "source", str, required=False) or None,
        unconfirmed=not _get(errs, where, raw, "confirmed", bool, required=False, default=True),
    )


def _public_notices(errs: _Errors, w: str, raw: Any) -> tuple[PublicNotice, ...]:
    out = []
    for j, r in enumerate(_get(errs, w, raw, "public_notices", list, required=False, default=[])):
        where = f"{w}.public_notices[{j}]"
        if not isinstance(r, Mapping):
            errs.add(where, "must be a table")
            continue
        allowed = {"task", "name_zh", "min_working_days", "source", "note", "confirmed"}
        if set(r) - allowed:
            errs.add(where, f"unknown keys {sorted(set(r) - allowed)}")
        days = _get(errs, where, r, "min_working_days", int, default=0)
        if days is not None and not 1 <= days <= 60:
            errs.add(where, f"min_working_days must be 1-60, got {days}")
        out.append(PublicNotice(
            task=_get(errs, where, r, "task", str, default="") or "",
            name_zh=_get(errs, where, r, "name_zh", str, default="") or "",
            min_working_days=days or 0,
            source=_get(errs, where, r, "source", str, required=False) or None,
            note=_get(errs, where, r, "note", str, required=False) or None,
            confirmed=_get(errs, where, r, "confirmed", bool, required=False, default=True),
        ))
    tasks = [n.task for n in out]
    for dup in sorted({t for t in tasks if tasks.count(t) > 1}):
        errs.add(w, f"public_notices: duplicate task {dup!r}")
    return tuple(out)


def _materials(errs: _Errors, w: str, raw: Any) -> tuple[MaterialItem, ...]:
    items = tuple(
        m for j, r in enumerate(_get(errs, w, raw, "materials", list, default=[]))
        if (m := _material(errs, f"{w}.materials[{j}]", r))
    )
    if raw.get("materials") is not None and not items:
        errs.add(w, "materials is empty")
    elif items and not any(i.required for i in items):
        errs.add(w, "materials has no required item")
    codes = [i.code for i in items]
    for dup in sorted({c for c in codes if codes.count(c) > 1}):
        errs.add(w, f"materials: duplicate code {dup!r}")
    return items


def _matter(errs: _Errors, idx: int, raw: Any, unit_codes: set[str], base: Path) -> Matter | None:
    if not isinstance(raw, Mapping):
        errs.add(f"matters[{idx}]", "must be a table")
        return None
    code = raw.get("code", "?")
    w = f"matters[{idx}] ({code})"
    allowed = {"code", "number", "name_zh", "name_en", "kind", "unit", "owner", "unit_missing_in_plan",
               "run_once_month", "legal_basis", "statutory_limit", "statutory_limit_note",
               "statutory_limit_by_report_type", "promised_limit", "promised_limit_by_report_type",
               "excluded_time", "service_modes", "diagram", "process_id", "applicant_deadlines",
               "materials", "max_upload_mb", "public_notices"}
    if set(raw) - allowed:
        errs.add(w, f"unknown keys {sorted(set(raw) - allowed)}")
    code = _get(errs, w, raw, "code", str, default="")
    number = _get(errs, w, raw, "number", int, default=0)
    if code and not re.fullmatch(r"m\d\d", code):
        errs.add(w, f"code {code!r} must look like m01")
    elif code and number and int(code[1:]) != number:
        errs.add(w, f"code {code!r} does not match number {number}")
    kind = _get(errs, w, raw, "kind", str, default="")
    if kind and kind not in MATTER_KINDS:
        errs.add(w, f"kind {kind!r} is not one of {', '.join(MATTER_KINDS)}")
    unit = _get(errs, w, raw, "unit", str, default="")
    missing = _get(errs, w, raw, "unit_missing_in_plan", bool, required=False, default=False)
    owner = _get(errs, w, raw, "owner", str, required=False, default="")
    if unit:
        if unit not in unit_codes:
            errs.add(w, f"unit {unit!r} is not a unit code ({', '.join(sorted(unit_codes))})")
        if missing:
            errs.add(w, "unit_missing_in_plan = true but a unit is set")
        owner = owner or unit
    else:
        if not missing:
            errs.add(w, 'unit is empty: set unit_missing_in_plan = true and an owner (e.g. owner = "regulations")')
        if not owner:
            errs.add(w, "no unit in the plan and no owner configured")
    if owner and owner not in unit_codes:
        errs.add(w, f"owner {owner!r} is not a unit code")
    month = _get(errs, w, raw, "run_once_month", str, default="")
    if month and not re.fullmatch(r"0[1-9]|1[0-2]", month):
        errs.add(w, f"run_once_month {month!r} must be two digits 01-12")
    stat_raw = raw.get("statutory_limit")
    stat = _limit(errs, f"{w}.statutory_limit", stat_raw) if stat_raw is not None else None
    stat_note = _get(errs, w, raw, "statutory_limit_note", str, required=False, default="")
    if stat is None and stat_raw is None and not stat_note:
        errs.add(w, "no statutory_limit: give one, or explain its absence in statutory_limit_note")
    promised = None
    if "promised_limit" not in raw:
        errs.add(w, "missing key 'promised_limit'")
    else:
        promised = _limit(errs, f"{w}.promised_limit", raw["promised_limit"])
        if promised and promised.unit == "applicant_due":
            errs.add(w, "promised_limit must be in working_days or days")
    excluded = _get(errs, w, raw, "excluded_time", list, default=[])
    for k in excluded:
        if k not in STEP_KINDS:
            errs.add(w, f"excluded_time kind {k!r} is not one of {', '.join(STEP_KINDS)}")
    modes = []
    for j, sm in enumerate(_get(errs, w, raw, "service_modes", list, default=[])):
        if not isinstance(sm, Mapping) or set(sm) != {"channel", "delivery_mode"}:
            errs.add(f"{w}.service_modes[{j}]", "must be { channel = ..., delivery_mode = ... }")
            continue
        if sm["channel"] not in CHANNELS:
            errs.add(f"{w}.service_modes[{j}]", f"channel {sm['channel']!r} is not one of {', '.join(CHANNELS)}")
        if sm["delivery_mode"] not in DELIVERY_MODES:
            errs.add(f"{w}.service_modes[{j}]",
                     f"delivery_mode {sm['delivery_mode']!r} is not one of {', '.join(DELIVERY_MODES)}")
        modes.append(ServiceMode(sm["channel"], sm["delivery_mode"]))
    if not modes:
        errs.add(w, "service_modes is empty")
    if len(set(modes)) != len(modes):
        errs.add(w, "service_modes has duplicates")
    diagram = _get(errs, w, raw, "diagram", str, default="")
    pid = _get(errs, w, raw, "process_id", str, default="")
    if pid and code and not pid.startswith(f"{code}_"):
        errs.add(w, f"process_id {pid!r} must start with {code}_")
    if diagram and pid and diagram != f"{pid}.bpmn":
        errs.add(w, f"diagram {diagram!r} must be named {pid}.bpmn")
    if diagram and not (base / diagram).is_file():
        errs.add(w, f"diagram file {diagram} not found next to the catalog")
    deadlines = tuple(
        d for j, r in enumerate(_get(errs, w, raw, "applicant_deadlines", list, required=False, default=[]))
        if (d := _deadline(errs, f"{w}.applicant_deadlines[{j}]", r))
    )
    if stat and stat.unit == "applicant_due" and not deadlines:
        errs.add(w, "statutory_limit.unit = applicant_due needs applicant_deadlines")
    max_mb = _get(errs, w, raw, "max_upload_mb", int, required=False, default=DEFAULT_MAX_UPLOAD_MB)
    if max_mb is not None and not 1 <= max_mb <= MAX_UPLOAD_MB_CEILING:
        errs.add(w, f"max_upload_mb must be 1-{MAX_UPLOAD_MB_CEILING}, got {max_mb}")
        max_mb = DEFAULT_MAX_UPLOAD_MB
    return Matter(
        code=code, number=number, name_zh=_get(errs, w, raw, "name_zh", str, default=""),
        name_en=_get(errs, w, raw, "name_en", str, default=""), kind=kind, unit=unit, owner=owner,
        unit_missing_in_plan=missing, run_once_month=month,
        legal_basis=_get(errs, w, raw, "legal_basis", str, default=""),
        statutory_limit=stat, statutory_limit_note=stat_note, promised_limit=promised or Limit(None, ""),
        excluded_time=tuple(excluded), service_modes=tuple(modes), diagram=diagram, process_id=pid,
        statutory_limit_by_report_type=_limits_by_report_type(
            errs, f"{w}.statutory_limit_by_report_type", raw.get("statutory_limit_by_report_type")),
        promised_limit_by_report_type=_limits_by_report_type(
            errs, f"{w}.promised_limit_by_report_type", raw.get("promised_limit_by_report_type")),
        applicant_deadlines=deadlines,
        materials=_materials(errs, w, raw),
        max_upload_bytes=(max_mb or DEFAULT_MAX_UPLOAD_MB) * MIB,
        public_notices=_public_notices(errs, w, raw),
    )


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate the catalog; raise CatalogError listing every problem found."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"catalog file not found: {p}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{p.name}: not valid TOML: {exc}") from exc
    errs = _Errors(p)
    plan_year = _get(errs, "top level", raw, "plan_year", int, default=0)
    if plan_year and not 2000 <= plan_year <= 2100:
        errs.add("top level", f"plan_year {plan_year} is out of range 2000-2100")
    targets = []
    for j, t in enumerate(_get(errs, "top level", raw, "rollout_targets", list, required=False, default=[])):
        if not (isinstance(t, Mapping) and isinstance(t.get("month"), str) and isinstance(t.get("share"), float)
                and 0 < t["share"] <= 1):
            errs.add(f"rollout_targets[{j}]", "must be { month = \"04\", share = 0.4 }")
        else:
            targets.append((t["month"], t["share"]))
    units = []
    for j, u in enumerate(_get(errs, "top level", raw, "units", list, default=[])):
        w = f"units[{j}]"
        if not isinstance(u, Mapping):
            errs.add(w, "must be a table")
            continue
        units.append(Unit(_get(errs, w, u, "code", str, default=""), _get(errs, w, u, "name_zh", str, default=""),
                          _get(errs, w, u, "name_en", str, default=""),
                          _get(errs, w, u, "role", str, required=False, default="")))
    for attr in ("code", "name_zh"):
        seen = [getattr(u, attr) for u in units]
        for dup in sorted({x for x in seen if seen.count(x) > 1}):
            errs.add("units", f"duplicate {attr} {dup!r}")
    unit_codes = {u.code for u in units}
    matters = [
        m for j, r in enumerate(_get(errs, "top level", raw, "matters", list, default=[]))
        if (m := _matter(errs, j, r, unit_codes, p.parent))
    ]
    for attr in ("code", "number", "process_id", "diagram"):
        seen = [getattr(m, attr) for m in matters]
        for dup in sorted({x for x in seen if seen.count(x) > 1}, key=str):
            errs.add("matters", f"duplicate {attr} {dup!r}")
    if errs.items:
        raise CatalogError("invalid catalog:\n  " + "\n  ".join(errs.items))
    return Catalog(plan_year=plan_year, plan_document=raw.get("plan_document", ""), matters=matters, units=units,
                   rollout_targets=tuple(targets), path=p.resolve())


@cache
def shipped_catalog() -> Catalog:
    """The catalog shipped in workflows/, read and validated once per process (it changes with a release)."""
    return load_catalog()
