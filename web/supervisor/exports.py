"""Exports of the supervisors' tables (``/supervisor/export/<name>.csv`` and ``.xlsx``) with the page's filters as
query parameters; the data come from services.report_tables, the same as the JSON endpoints."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime

from flask import Response, abort, stream_with_context

from services import report_tables
from web.common import reader, roles_required
from web.supervisor import bp, params

FORMATS = ("csv", "xlsx")


def _table(session, name: str) -> report_tables.Table:
    if name == "cases":
        search, _ = params.search()
        return report_tables.cases_table(session, search)
    f, _ = params.filters()
    if name in ("matters", "units"):
        return report_tables.stat_table(session, name, f)
    if name == "months":
        return report_tables.months_table(session, f)
    return report_tables.rollout_table(session)


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def csv_bytes(table: report_tables.Table) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark, so that Excel opens the Chinese headers right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.zh for c in table.columns])
    yield ("\ufeff" + buffer.getvalue()).encode()
    for row in table.rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_cell(v) for v in row])
        yield buffer.getvalue().encode()


def xlsx_bytes(table: report_tables.Table) -> bytes:
    from openpyxl import Workbook  # only the XLSX export needs it

    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.title_zh[:31])
    sheet.append([c.zh for c in table.columns])
    for row in table.rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@bp.get("/export/<name>.<fmt>")
@roles_required("supervisor")
def export(name: str, fmt: str):
    if name not in report_tables.NAMES or fmt not in FORMATS:
        abort(404)
    filename = f"{name}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "xlsx":
        with reader() as r:
            body = xlsx_bytes(_table(r.session, name))
        return Response(body, headers=headers,
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    def rows() -> Iterator[bytes]:
        with reader() as r:
            yield from csv_bytes(_table(r.session, name))

    return Response(stream_with_context(rows()), headers=headers, mimetype="text/csv")
