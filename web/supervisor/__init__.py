"""Supervisors (督查), read-only everywhere: the audit log and its chain check (audit), the plan's dashboard and
its JSON (dashboard), case search and a case's full history (cases), CSV/XLSX exports of every table
(exports), each matter's diagram as a heatmap, its event log as XES and its conformance (matters)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")

from web.supervisor import audit, cases, dashboard, exports, matters  # noqa: E402,F401  (routes register on import)
