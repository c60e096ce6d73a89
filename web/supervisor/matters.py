"""Each matter on its diagram: the heatmap (per deployed version), its event log as XES, the conformance report."""

from __future__ import annotations

from flask import Response, abort, jsonify, request, stream_with_context
from flask import render_template as render

from services import clock, process_mining
from web.common import reader, roles_required
from web.inputs import parse_int
from web.supervisor import bp


def _matter(code: str):
    matter = next((m for m in clock.catalog().matters if m.code == code), None)
    if matter is None:
        abort(404)
    return matter


def _version(session, code: str):
    raw = request.args.get("version")
    number = parse_int(raw, minimum=1) if raw else None
    if raw and number is None:
        abort(404)
    definition = process_mining.today_version(session, code, number)
    if definition is None:
        abort(404)
    return definition


@bp.get("/matters/")
@roles_required("supervisor")
def matters():
    return render("supervisor/matters.html", matters=clock.catalog().matters)


@bp.get("/matters/<code>")
@roles_required("supervisor")
def matter(code: str):
    m = _matter(code)
    with reader() as r:
        definition = _version(r.session, code)
        numbers = [d.version for d in process_mining.versions(r.session, code)]
        data = process_mining.heatmap(r.session, code, definition)
    rows = sorted(data["elements"].items(), key=lambda kv: -(kv[1]["median"] or 0))
    return render("supervisor/matter.html", matter=m, version=definition.version, versions=numbers, data=data,
                  rows=rows)


@bp.get("/matters/<code>/heatmap.json")
@roles_required("supervisor")
def heatmap_json(code: str):
    _matter(code)
    with reader() as r:
        return jsonify(process_mining.heatmap(r.session, code, _version(r.session, code)))


@bp.get("/matters/<code>/diagram.bpmn")
@roles_required("supervisor")
def diagram(code: str):
    _matter(code)
    with reader() as r:
        definition = _version(r.session, code)
        xml = definition.files[definition.main_file]
    return xml, 200, {"Content-Type": "application/xml; charset=utf-8"}


@bp.get("/matters/<code>/events.xes")
@roles_required("supervisor")
def events_xes(code: str):
    _matter(code)

    def lines():
        with reader() as r:
            # Lines are grouped into ~64 KB chunks: the log is streamed, never built in memory.
            chunk: list[str] = []
            size = 0
            for line in process_mining.xes_lines(r.session, code):
                chunk.append(line)
                size += len(line)
                if size > 65536:
                    yield "".join(chunk).encode()
                    chunk, size = [], 0
            yield "".join(chunk).encode()

    return Response(stream_with_context(lines()), mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{code}-events.xes"'})


@bp.get("/matters/<code>/conformance")
@roles_required("supervisor")
def conformance(code: str):
    m = _matter(code)
    with reader() as r:
        definition = _version(r.session, code)
        report = process_mining.conformance(r.session, code, definition)
    return render("supervisor/conformance.html", matter=m, report=report)
