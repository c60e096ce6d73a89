"""Typed loader for ``workflows/processes.toml``: the department's own processes (rectification of a poor rating,
complaints, spot checks), which run on the engine like the matters but are not among them.

    from workflows.processes import shipped_processes
    p = shipped_processes().process("p01")    # DepartmentProcess (frozen dataclass); KeyError when unknown
    p.promised_for(None)                      # Limit(value=15, unit="working_days", ...): what the clock counts

A process answers the parts of the matter interface the case clock, the lanes and the reminders read
(``kind``, ``statutory_for``/``promised_for``, ``excluded_time``, ``unit``/``owner``/``responsible_unit``, the names),
so a case of it gets its due date, warnings and escalation exactly like a matter's case.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from workflows.catalog import Limit

DEFAULT_PATH = Path(__file__).with_name("processes.toml")
KIND = "process"  # the clock starts when the case starts, as for a filing (there is no acceptance step)
LIMIT_UNITS = ("working_days", "days")


class ProcessCatalogError(ValueError):
    """processes.toml is missing or inconsistent; the message lists every problem."""


@dataclass(frozen=True)
class DepartmentProcess:
    code: str
    name_zh: str
    name_en: str
    process_id: str
    diagram: str
    unit: str
    limit: Limit
    kind: str = KIND
    number: int = 0  # not a numbered matter of the plan
    excluded_time: tuple[str, ...] = ()
    materials: tuple[Any, ...] = ()

    @property
    def owner(self) -> str:
        return self.unit

    @property
    def responsible_unit(self) -> str:
        return self.unit

    public_notices: tuple[Any, ...] = ()

    def notice_min_working_days(self, _task: str) -> int | None:
        return None  # a department's process publishes no 公示

    def material(self, code: str) -> Any:
        raise KeyError(f"{self.code}: a department's process has no materials list ({code!r})")

    def statutory_for(self, _report_type: str | None = None) -> Limit:
        return self.limit

    def promised_for(self, _report_type: str | None = None) -> Limit:
        return self.limit


@dataclass(frozen=True)
class ProcessCatalog:
    processes: tuple[DepartmentProcess, ...]
    path: Path

    def process(self, code: str) -> DepartmentProcess:
        for p in self.processes:
            if p.code == code:
                return p
        raise KeyError(f"unknown department process {code!r}")

    def by_process_id(self, process_id: str) -> DepartmentProcess | None:
        return next((p for p in self.processes if p.process_id == process_id), None)

    def diagram_path(self, process: DepartmentProcess) -> Path:
        return self.path.parent / process.diagram


def load_processes(path: str | Path | None = None, unit_codes: set[str] | None = None) -> ProcessCatalog:
    p = Path(path) if path else DEFAULT_PATH
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ProcessCatalogError(f"{p.name}: {err}") from err
    if unit_codes is None:
        from workflows.catalog import shipped_catalog

        unit_codes = {u.code for u in shipped_catalog().units}
    problems: list[str] = []
    found: list[DepartmentProcess] = []
    allowed = {"code", "name_zh", "name_en", "process_id", "diagram", "unit", "limit"}
    for idx, entry in enumerate(raw.get("processes") or []):
        where = f"{p.name}: processes[{idx}] ({entry.get('code', '?')})"
        if set(entry) - allowed:
            problems.append(f"{where}: unknown keys {sorted(set(entry) - allowed)}")
        missing = sorted(allowed - set(entry))
        if missing:
            problems.append(f"{where}: missing {missing}")
            continue
        limit = entry["limit"]
        if limit.get("unit") not in LIMIT_UNITS or not isinstance(limit.get("value"), int) or limit["value"] < 1:
            problems.append(f"{where}: limit needs a positive value and a unit in {LIMIT_UNITS}")
            continue
        if entry["unit"] not in unit_codes:
            problems.append(f"{where}: unit {entry['unit']!r} is not a unit of catalog.toml")
        if entry["diagram"] != f"{entry['process_id']}.bpmn" or not (p.parent / entry["diagram"]).is_file():
            problems.append(f"{where}: diagram must be {entry['process_id']}.bpmn next to {p.name}")
        found.append(DepartmentProcess(
            code=entry["code"], name_zh=entry["name_zh"], name_en=entry["name_en"], process_id=entry["process_id"],
            diagram=entry["diagram"], unit=entry["unit"],
            limit=Limit(limit["value"], limit["unit"], note=limit.get("note", "")),
        ))
    codes = [x.code for x in found]
    if len(set(codes)) != len(codes):
        problems.append(f"{p.name}: duplicate codes {codes}")
    if problems:
        raise ProcessCatalogError("invalid process catalog:\n  " + "\n  ".join(problems))
    return ProcessCatalog(tuple(found), p.resolve())


@cache
def shipped_processes() -> ProcessCatalog:
    return load_processes()
