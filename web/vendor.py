"""bpmn-js and ECharts served from node_modules (installed by `npm ci` in the set-up; never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("vendor", __name__, url_prefix="/vendor")

ALLOWED = ("bpmn-navigated-viewer.production.min.js", "bpmn-modeler.production.min.js")


def bpmn_dist() -> Path:
    return Path(current_app.config["NODE_MODULES"]) / "bpmn-js" / "dist"


@bp.get("/bpmn-js/<path:filename>")
def bpmn_js(filename: str):
    if filename not in ALLOWED and not filename.startswith("assets/"):
        abort(404)
    response = send_from_directory(bpmn_dist(), filename, max_age=86400)
    return response


@bp.get("/echarts/echarts.min.js")
def echarts():
    return send_from_directory(Path(current_app.config["NODE_MODULES"]) / "echarts" / "dist", "echarts.min.js",
                               max_age=86400)
