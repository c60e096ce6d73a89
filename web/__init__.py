"""The web layer: blueprints per audience. Thin views over the service layer.

auth        sign-in/out (with a lock after repeated failures), the language switch
handler     worklist, task pages (claim, release, reassign, complete), case pages
window      registering an application and its receipt
documents   the case's official documents (stored PDF), the signed-for date of a proof of service
supervisor  (package) dashboard, case search and history, exports, matter heatmaps, XES, conformance, audit log
designer    deployed process versions and uploading a new one
admin       holiday notices, uncomputable time limits, incidents, matter settings (supervisors read)
files       staff download of stored files (/files/<id>)
case_file   the case file page (卷宗) and the whole case file as a ZIP
vendor      bpmn-js and ECharts from node_modules (never copied into the repo)
api         /api/v1, the integration API for other systems (web/api/)
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from web import edge, i18n, labels, security

csrf = CSRFProtect()


def register(app: Flask) -> None:
    edge.init_app(app)  # first: its bounded <int:> converter applies to the rules as blueprints add them
    if app.config.get("TRUST_PROXY_HOPS"):
        # Behind a reverse proxy every client shares the proxy's address; the look-up throttles need the real one.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["TRUST_PROXY_HOPS"]), x_proto=1)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    # A CSRF token stays valid for the whole session: a long task form must not expire under the user.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("WORKLIST_PAGE_SIZE", 20)
    app.config.setdefault("NODE_MODULES", str(app.root_path + "/node_modules"))
    csrf.init_app(app)

    @app.context_processor
    def _department() -> dict[str, str]:
        return {"department_name": app.config["DEPARTMENT_NAME"]}  # one setting for every page and document

    i18n.init_app(app)
    security.init_app(app)
    labels.init_app(app)

    from web import auth, designer, errors, handler, supervisor, vendor, window

    auth.init_app(app)
    errors.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(handler.bp)
    app.register_blueprint(window.bp)
    app.register_blueprint(supervisor.bp)
    app.register_blueprint(designer.bp)
    app.register_blueprint(vendor.bp)
    from web import applicant
    from web import reminders as reminders_web

    reminders_web.init_app(app)  # /reminders/ + the reminders_unread()/reminders_label() template helpers
    app.register_blueprint(applicant.bp)  # 网上申请 and 办件查询 for citizens and enterprises
    from web import applicant_case

    app.register_blueprint(applicant_case.bp)  # the applicant's case: notice, supplements online, downloads
    from web import public_info

    app.register_blueprint(public_info.bp)  # the information column's service guides (办事指南), page and PDF
    from web import ratings as ratings_web

    app.register_blueprint(ratings_web.bp)  # 好差评: rating online and at the window, public figures, supervisors
    from web import complaints as complaints_web

    app.register_blueprint(complaints_web.bp)  # 投诉举报: the public form and the follow-up by reference and code
    from web import credit as credit_web

    app.register_blueprint(credit_web.bp)  # credit records: staff panels, the supervisors' list and export
    from web import spot_checks as spot_checks_web

    app.register_blueprint(spot_checks_web.bp)  # 双随机一公开: public results; registry, roster, plans, draws
    from web import admin

    app.register_blueprint(admin.bp)  # /admin/: holiday notices, flagged cases, incidents, matter settings
    from web import case_file, files

    app.register_blueprint(files.bp)  # /files/<id>: staff download of the case file's stored files
    app.register_blueprint(case_file.bp)  # /cases/<id>/file: the case file page (卷宗) and its ZIP
    from web import documents

    app.register_blueprint(documents.bp)  # the case's official documents as stored PDF
    from web import api

    api.init_app(app)  # /api/v1: the integration API (OpenAPI 3.1, client tokens, problem+json)
    from web import api_admin

    app.register_blueprint(api_admin.bp)  # /admin/api: API clients (revoke, rotate), webhook deliveries (replay)
