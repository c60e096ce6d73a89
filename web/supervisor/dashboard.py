"""The plan's dashboard: numbers from services.statistics, charts (ECharts) drawn from the JSON endpoints the
exports share; every number links to the case list behind it."""

from __future__ import annotations

from flask import jsonify
from flask import render_template as render
from flask_babel import get_locale

from services import clock, statistics
from services.reminders import COUNTING_RULE, current_policy
from services.reminders import render as render_message
from web.common import reader, roles_required
from web.supervisor import bp, params


@bp.get("/dashboard")
@roles_required("supervisor")
def dashboard():
    f, problems = params.filters()
    with reader() as r:
        data = statistics.dashboard(r.session, f)
        rollout = statistics.rollout(r.session)
        units = {u.code: u for u in clock.catalog().units}
    limit = f"{round(current_policy().max_multi_trip_share * 100)}%"
    return render("supervisor/dashboard.html", data=data, rollout=rollout, filters=f, query=f.as_query(),
                  problems=problems, matters=clock.catalog().matters, units=units,
                  counting_rule=render_message(COUNTING_RULE, {"limit": limit}, str(get_locale())))


@bp.get("/dashboard.json")
@roles_required("supervisor")
def dashboard_json():
    f, problems = params.filters()
    with reader() as r:
        data = statistics.dashboard(r.session, f)
    return jsonify({**data, "ignored": list(problems)})


@bp.get("/months.json")
@roles_required("supervisor")
def months_json():
    f, problems = params.filters()
    with reader() as r:
        return jsonify({"months": statistics.months(r.session, f), "ignored": list(problems)})


@bp.get("/rollout.json")
@roles_required("supervisor")
def rollout_json():
    with reader() as r:
        return jsonify(statistics.rollout(r.session))
