"""Handlers' pages: the worklist, a task (its form; claim, release, reassign) and a case (data, timeline,
diagram)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from forms.builder import FormSpec, build_form_class, data_for_form, display_value
from forms.context import FormContext
from forms.schemas import UnknownForm, load_schema, load_ui_schema, validate_form
from services import access, applicant, case_file, cases, clock, document_rendering, documents, files
from services.errors import Conflict, InvalidInput, ServiceError
from services.form_context import form_context
from storage.models import Case, CaseClock, CaseExtension, HumanTask
from storage.types import utcnow
from web import case_view, labels, queries, uploads
from web.common import actor, flash_service_error, reader, roles_required, show_refusal, uow
from web.i18n import current_language, error_text, field_error_text
from web.inputs import page_number, parse_int
from web.redirects import next_target

bp = Blueprint("handler", __name__)

WORK_ROLES = access.WORK_ROLES


def ui_schema_name(form_name: str) -> str:
    """formUiSchemaFilename beside formJsonSchemaFilename: "x.json" → "x.uischema.json"."""
    stem = form_name[:-5] if form_name.endswith(".json") else form_name
    return f"{stem}.uischema.json"


def task_form_class(form_name: str, context: FormContext | None = None) -> type[FlaskForm]:
    """The task's form; ``context`` (services.form_context) fills in the case's choices, the signing officer
    and the calendar checks."""
    schema = load_schema(form_name)
    return build_form_class(
        schema,
        load_ui_schema(ui_schema_name(form_name)),
        base=FlaskForm,
        gettext=lazy_gettext,
        locale=current_language(),
        context=context,
    )


# ---------------------------------------------------------------- worklist


@bp.get("/")
def home():
    if not current_user.is_authenticated:  # a visitor: the applicants' pages (staff sign in from there)
        return redirect(url_for("applicant.index"))
    me = actor()
    if not me.has_role(*WORK_ROLES):
        if me.has_role("admin"):
            return redirect(url_for("admin.index"))
        if me.has_role("supervisor"):
            return redirect(url_for("supervisor.dashboard"))
        if me.has_role("designer"):
            return redirect(url_for("designer.index"))
        abort(403)
    return worklist()


def _filter_from_args(page_size: int) -> queries.WorklistFilter:
    args = request.args
    view = args.get("view", "open")
    if view not in queries.VIEWS:
        view = "open"
    due = args.get("due", "")
    if due not in queries.DUE_FILTERS:
        due = ""
    page = page_number(args.get("page"))
    return queries.WorklistFilter(
        view=view,
        matter=args.get("matter") or None,
        due=due,
        descending=args.get("sort") == "due_desc",
        page=page,
        per_page=page_size,
    )


def load_catalog_cached():
    """The matter catalog, read once per process (it is data shipped with the code)."""
    from workflows.catalog import shipped_catalog

    return shipped_catalog()


def process_choices() -> list[tuple[str, str]]:
    """(code, name) of the department's own processes (workflows/processes.toml), in the user's language."""
    from workflows.processes import shipped_processes

    zh = current_language() == "zh_CN"
    return [(p.code, p.name_zh if zh else p.name_en) for p in shipped_processes().processes]


def matter_choices() -> list[tuple[str, str]]:
    """(code, name) of the catalog's matters, in the user's language."""
    catalog = load_catalog_cached()
    out = []
    for matter in catalog.matters:
        name = (
            matter.name_zh
            if current_language() == "zh_CN"
            else (getattr(matter, "name_en", None) or matter.name_zh)
        )
        out.append((matter.code, name))
    return out


def worklist():
    from flask import current_app

    me = actor()
    f = _filter_from_args(current_app.config["WORKLIST_PAGE_SIZE"])
    now = utcnow()
    with reader() as r:
        page = queries.worklist(r.session, f, me.user_id, sorted(me.lanes), now, sorted(me.roles))
        counts = queries.tab_counts(r.session, me.user_id, sorted(me.lanes), now, sorted(me.roles))
        claimers = queries.user_names(r.session, {t.claimed_by for t in page.rows})
        briefs = queries.case_briefs(r.session, {t.case_id for t in page.rows})
        rows = [
            {"task": t, "case": briefs[t.case_id], "due": case_view.case_due(briefs[t.case_id])}
            for t in page.rows
        ]
    is_lead = me.has_role("lead")
    return render_template(
        "handler/worklist.html",
        page=page,
        rows=rows,
        f=f,
        counts=counts,
        claimers=claimers,
        matters=matter_choices(),
        is_lead=is_lead,
        now=now,
    )


# ---------------------------------------------------------------- claim, release, reassign


def _back_to(task_id: str) -> str:
    return next_target(url_for("handler.task", task_id=task_id))


# A refusal of these commands (409 lost race, 403, 404) is answered with its status and the service's message
# (web.errors); the page links back to where the person came from.


@bp.post("/tasks/<task_id>/claim")
@roles_required(*WORK_ROLES)
def claim(task_id: str):
    cases.claim_task(uow(), task_id, actor())
    flash(_("You claimed this task; it is now on your list."), "success")
    return redirect(_back_to(task_id))


@bp.post("/tasks/<task_id>/release")
@roles_required(*WORK_ROLES)
def release(task_id: str):
    cases.release_task(uow(), task_id, actor())
    flash(_("The task is released: anyone in the unit can claim it now."), "success")
    return redirect(_back_to(task_id))


@bp.post("/tasks/<task_id>/reassign")
@roles_required("lead")
def reassign(task_id: str):
    to_user = parse_int(request.form.get("user_id", ""), minimum=1)
    if to_user is None:
        flash(_("Choose the colleague who should do this task."), "error")
        return redirect(_back_to(task_id))
    try:
        cases.reassign_task(uow(), task_id, to_user, actor(), request.form.get("reason", "")[:2000])
        flash(_("The task was reassigned; its new owner is told (reminder and e-mail)."), "success")
    except InvalidInput as err:  # a colleague of another unit: shown on the page it came from
        flash_service_error(err)
    return redirect(_back_to(task_id))


# ---------------------------------------------------------------- task page


def why_read_only(task: HumanTask, case: Case, claimer: str | None) -> str | None:
    """Why this user cannot act on the task, in one or two sentences; None when they can (perhaps after
    claiming it)."""
    me = actor()
    if task.state == "completed":
        return _("This task is done; what was filled in is shown below.")
    if task.state == "cancelled":
        return _("This task was cancelled; nothing can be done on it any more.")
    if case.status != "active":
        why = _("The case is %(status)s.", status=labels.CASE_STATUS.get(case.status, case.status))
    elif not me.has_role(*WORK_ROLES):
        why = _("Your role reads cases; tasks are worked on by the units.")
    elif task.lane not in me.lanes | {None}:
        why = _("It is the task of %(unit)s.", unit=lane_label(task.lane))
    elif not me.has_task_role(task.role):
        why = _("Only the lead of %(lane)s can do this task.", lane=lane_label(task.lane))
    elif task.claimed_by is not None and task.claimed_by != me.user_id:
        why = _("%(name)s has claimed it: only they can work on it until they release it or the unit lead "
                "reassigns it.", name=claimer or "—")
    else:
        return None
    return _("%(first)s %(then)s", first=_("You can read this task but not work on it."), then=why)


def _attach_errors(form: FlaskForm, errors: dict[str, str]) -> list[str]:
    """Field messages onto their fields; those with no field are returned for the top of the form."""
    loose = []
    for name, message in errors.items():
        text = field_error_text(message)
        if name in form and name not in ("csrf_token", "expected_version"):
            form[name].errors = [*list(form[name].errors), text]
        else:
            loose.append(text)
    return loose


def _task_context(task: HumanTask, case: Case, session) -> dict[str, Any]:
    me = actor()
    history = queries.case_events(session, case.id)
    names = queries.user_names(session, {task.claimed_by, task.completed_by})
    members = queries.unit_members(session, me.unit_code) if me.has_role("lead") else []
    claimer = names.get(task.claimed_by) if task.claimed_by else None
    return {
        "task": task,
        "case": case,
        "documentation": case_view.task_documentation(case.definition, task.spec_name, task.form),
        "history": history,
        "due": case_view.case_due(case),
        "waiting": applicant.waiting(session, case),
        "claimer": claimer,
        "completer": names.get(task.completed_by) if task.completed_by else None,
        "members": [m for m in members if m.id != task.claimed_by],
        "mine": task.claimed_by is not None and task.claimed_by == me.user_id,
        "can_work": access.may_work_task(me, task, case),
        "read_only_reason": why_read_only(task, case, claimer),
        "is_lead": me.has_role("lead") and (task.lane in me.lanes or me.has_role("admin")),
    }


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
@roles_required(*WORK_ROLES, "supervisor")
def task(task_id: str):
    with reader() as r:
        row = r.session.get(HumanTask, task_id)
        if row is None:
            abort(404)
        case = row.case
        if not access.may_view_task(r.session, actor(), row, case):
            abort(403)
        form_ctx = form_context(r.session, matter_code=row.matter_code, task_name=row.spec_name, actor=actor())
    # Whether the reason not to act is None does not depend on the claimer's name (only its wording does).
    acting = access.may_work_task(actor(), row, case) and why_read_only(row, case, None) is None
    status = 200
    loose: list[str] = []
    form = None
    spec: FormSpec | None = None
    form_problem = None
    if row.form:
        try:
            form_cls = task_form_class(row.form, form_ctx)
            spec = form_cls.form_spec
        except (UnknownForm, ValueError) as err:
            form_problem = str(err)
            form_cls = None
    else:
        form_cls = build_form_class({"type": "object", "properties": {}}, base=FlaskForm)
        spec = form_cls.form_spec
    kept: list[tuple[str, str]] = []  # what was typed into a form refused by a lost race
    stale = False  # a lost race: the form is shown again with the case's current version
    if request.method == "POST" and not acting:
        # Refused, but answered with the task read-only and the reason (shown on the page), not a bare error.
        # Someone else acting first since the page was loaded (the task closed or claimed, the case ended) is
        # a lost race: 409 with the plain message and what was typed shown; anything else is a 403.
        conflict = cases.completion_conflict(row, case, actor()) if access.works_task_lane(actor(), row) else None
        if conflict is not None:
            status = 409
            flash(error_text(conflict) + " " + _("Nothing was saved."), "error")
            if form_cls is not None:
                kept = _typed(form_cls(), spec)
        else:
            status = 403
            flash(_("Nothing was saved."), "error")
    elif form_cls is not None and request.method == "POST":
        # A POST that succeeds redirects: it loads neither the page's context nor the workflow (the command
        # loads it once, in an engine worker).
        form = form_cls()
        uploads.ingest(form, actor=actor().username, limit=files.upload_limit(case.matter_code),
                       case_id=case.id, purpose="attachment")
        valid = form.validate()
        answers = _answers(form)
        # The schema's own rules (conditional requirements too) are checked as well, so that every problem
        # shows at once; a field keeps the first message it got.
        problems = validate_form(row.form, answers, form_ctx) if row.form else {}
        for name, (msgid, params) in problems.items():
            text = _(msgid) % params if params.get("limit") is not None else _(msgid)
            if name in form and name not in ("csrf_token", "expected_version"):
                if not form[name].errors:
                    form[name].errors = [text]
            else:
                loose.append(text)
        if not valid or problems:
            status = 422
        else:
            try:
                expected = int(form.expected_version.data or 0) or None
                result = cases.complete_task(uow(), task_id, answers, actor(), expected_version=expected)
            except InvalidInput as err:
                status = 422
                flash_service_error(err)
                loose += _attach_errors(form, err.errors)
            except Conflict as err:
                status = 409
                flash(
                    error_text(err)
                    + " "
                    + _("What you entered is kept below; check the history, then send again."),
                    "error",
                )
                stale = True
            except ServiceError as err:
                status = err.http_status
                flash_service_error(err)
            else:
                if result.status == "incident":
                    flash(_("The case stopped at a step of its process and is now an incident; an administrator "
                            "sees why and can run the step again. What you entered is recorded."), "error")
                else:
                    flash(_("Done: “%(title)s” is completed.", title=labels.task_title(row.title)), "success")
                for issued in result.documents:
                    flash(_("Issued: %(title)s %(number)s; print it from the case's documents.",
                            title=issued.title, number=issued.number), "success")
                if result.status == "completed":
                    flash(_("The case is completed."), "success")
                offered = (cases.claim_next_task(uow(), row.case_id, row.lane, actor())
                           if result.status == "active" else None)
                if offered is not None:  # the next step is this person's too: straight to it
                    flash(_("The next step “%(title)s” is also for your unit: it is claimed for you. Release it "
                            "if a colleague should do it.", title=labels.task_title(offered.title)), "info")
                    return redirect(url_for("handler.task", task_id=offered.id))
                return redirect(url_for("handler.case", case_id=row.case_id))
        if status == 422 and not loose:
            loose.append(_("The form has errors; see the marked fields."))
    # The page: a GET, or a POST that is shown again with what was typed.
    read_only = []
    with reader() as r:
        row = r.session.get(HumanTask, task_id) or row
        case = r.session.get(Case, row.case_id) or case
        context = _task_context(row, case, r.session)
        # the serialized workflow is a deferred column: read it while the session is open
        data = case_view.workflow_data(case) if row.state == "ready" and case.state else {}
        if form is not None and stale:
            form.expected_version.data = str(case.version)
        elif form_cls is not None and form is None and acting:
            form = form_cls(formdata=None, data=data_for_form(spec, data))
            form.expected_version.data = str(case.version)
        if form is not None:
            uploads.describe(form, r.session)
        if spec is not None:
            names = {fid: row.original_name for fid, row in files.names_for(r.session, files.refs_in(data)).items()}
            read_only = [(f, display_value(f, data[f.name], names)) for f in spec.read_only if f.name in data]
        record = case_file.load(r.session, case, locale=current_language())
    # What a reader sees instead of the form: the answers given (completed) or the task's data so far.
    own = record.task(row.id)
    current: tuple[case_file.Answer, ...] = ()
    if own is None and spec is not None and not (form is not None and context["mine"] and acting):
        infos = {f.id: f for f in record.all_files()}
        current = case_file.answers_for(spec.fields, data, infos)
    return render_template(
        "handler/task.html",
        form=form if acting else None,
        spec=spec,
        loose=loose,
        read_only=read_only,
        form_problem=form_problem,
        case_file=record,
        own_record=own,
        current_answers=current,
        kept=kept,
        **context,
    ), status


def _typed(form: FlaskForm, spec: FormSpec | None) -> list[tuple[str, str]]:
    """What was typed into a refused form, as (label, text), to show it (files are not repeated)."""
    kept = []
    for field in spec.fields if spec else []:
        value = form[field.name].data if field.name in form else None
        if value not in (None, "", [], False) and not hasattr(value, "filename"):
            kept.append((field.title, labels.join_list(value) if isinstance(value, list) else str(value)))
    return kept


def _answers(form: FlaskForm) -> dict[str, Any]:
    from forms.builder import form_to_data

    return form_to_data(form)


# ---------------------------------------------------------------- case page


@contextmanager
def viewable_case(case_id: int) -> Iterator[tuple[Case, Session]]:
    """The case and an open read session, or 404/403."""
    with reader() as r:
        case = r.session.get(Case, case_id)
        if case is None:
            abort(404)
        if not access.may_view_case(r.session, actor(), case):
            abort(403)
        yield case, r.session


REQUIRED = lazy_gettext("This field is required.")


class ExtendForm(FlaskForm):
    """延长办理期限 (行政许可法 Art.42: +10 working days with the head's approval, the reasons told to the
    applicant)."""

    working_days = StringField(lazy_gettext("Working days"), default="10",
                               validators=[InputRequired(REQUIRED)],
                               render_kw={"inputmode": "numeric", "type": "number", "min": "1"})
    reason = TextAreaField(lazy_gettext("Reason (told to the applicant)"),
                           validators=[InputRequired(REQUIRED), Length(max=2000)], render_kw={"rows": 3})


class WithdrawForm(FlaskForm):
    reason = TextAreaField(lazy_gettext("Reason for the withdrawal"),
                           validators=[InputRequired(REQUIRED), Length(max=2000)], render_kw={"rows": 3},
                           description=lazy_gettext("The open tasks are cancelled and the case is closed."))


def _clock_context(session, case: Case) -> dict[str, Any]:
    """The time-limit facts of the case page and who may extend or withdraw it."""
    row = session.get(CaseClock, case.id)
    used = session.execute(
        select(func.coalesce(func.sum(CaseExtension.working_days), 0)).where(CaseExtension.case_id == case.id)
    ).scalar_one()
    allowed = (row.statutory_extendable_by if row else None) or clock.DEFAULT_EXTENSION_LIMIT
    flag = clock.describe_flag(case.clock_flag)
    extendable = (case.status == "active" and case.accepted_on is not None and row is not None
                  and row.stopped_on is None)
    permitted = access.may_extend(session, actor())
    may_withdraw = access.may_withdraw(session, actor(), case)
    return {
        "flag_text": _(flag[0]) % flag[1] if flag else None,
        "flag_year": clock.flag_year(case.clock_flag),
        "extension_used": used,
        "extension_left": max(allowed - used, 0),
        "may_extend": permitted,
        "can_extend": extendable and allowed > used and permitted,
        "may_withdraw": may_withdraw,
        "can_withdraw": case.status in ("active", "incident") and may_withdraw,
    }


def _trip_reasons(count) -> list[str]:
    """The reasons of a trip count in the page's language (the rules' own Chinese wording in Chinese)."""
    if current_language() == "zh_CN":
        return list(count.reasons)
    out = []
    for msgid, params in count.reason_ids:
        shown = dict(params)
        if "channel" in shown:
            shown["channel"] = str(labels.CHANNEL.get(shown["channel"], shown["channel"]))
        if "delivery" in shown:
            shown["delivery"] = str(labels.DELIVERY.get(shown["delivery"], shown["delivery"]))
        out.append(_(msgid, **shown))
    return out


def render_case(case_id: int, *, extend_form: ExtendForm | None = None,
                withdraw_form: WithdrawForm | None = None, status: int = 200):
    document_rendering.settle(uow(), case_id)  # the documents list shows each with its PDF
    with viewable_case(case_id) as (case, session):
        tasks = queries.case_tasks(session, case.id)
        events = queries.case_events(session, case.id)
        names = queries.user_names(session, {t.claimed_by for t in tasks} | {t.completed_by for t in tasks})
        definition = case.definition  # loaded while the session is open; its XML stays deferred
        clock_context = _clock_context(session, case)
        case_documents = documents.case_documents(session, case.id)
        # The number of trips is shown with its reasons, never alone; the workflow is read once for both.
        data = case_view.workflow_data(case) if case.trips is not None and case.state else None
        waiting = applicant.waiting(session, case, data)
        trip_reasons = _trip_reasons(cases.trip_count(case, data)) if data is not None else []
    # A refused form is shown again with what was typed, even when the command is no longer possible (the
    # message on top says why), so that nothing typed is lost.
    if extend_form is None:
        extend_form = ExtendForm(formdata=None, prefix="extend")
        extend_form.working_days.data = str(min(clock.DEFAULT_EXTENSION_LIMIT, clock_context["extension_left"]))
    else:
        clock_context["can_extend"] = clock_context["may_extend"]
    if withdraw_form is None:
        withdraw_form = WithdrawForm(formdata=None, prefix="withdraw")
    else:
        clock_context["can_withdraw"] = clock_context["may_withdraw"]
    return render_template(
        "handler/case.html",
        case=case,
        tasks=tasks,
        events=events,
        names=names,
        definition=definition,
        documents=case_documents,
        due=case_view.case_due(case),
        waiting=waiting,
        trip_reasons=trip_reasons,
        open_tasks=[t for t in tasks if t.state == "ready"],
        extend_form=extend_form,
        withdraw_form=withdraw_form,
        **clock_context,
    ), status


@bp.get("/cases/<int:case_id>")
@roles_required(*WORK_ROLES, "supervisor")
def case(case_id: int):
    return render_case(case_id)




@bp.post("/cases/<int:case_id>/extend")
@roles_required("lead")
def extend_case(case_id: int):
    with viewable_case(case_id):
        pass
    form = ExtendForm(prefix="extend")
    if form.validate():
        days = parse_int(form.working_days.data or "", minimum=1)
        if days is None:
            form.working_days.errors = [_("Enter a whole number of working days (at least 1).")]
        else:
            try:
                result = clock.extend_deadline(uow(), case_id, days, form.reason.data, actor())
            except ServiceError as err:
                return render_case(case_id, extend_form=form, status=show_refusal(form, err))
            due = result.due_on.isoformat() if result.due_on else "—"
            flash(_("The time limit is extended by %(n)s working days; the case is now due on %(date)s.",
                    n=days, date=due), "success")
            return redirect(url_for("handler.case", case_id=case_id))
    flash(_("The time limit was not extended: see the marked fields."), "error")
    return render_case(case_id, extend_form=form, status=422)


@bp.post("/cases/<int:case_id>/withdraw")
@roles_required("lead")
def withdraw_case(case_id: int):
    with viewable_case(case_id):
        pass
    form = WithdrawForm(prefix="withdraw")
    if form.validate():
        try:
            cases.withdraw_case(uow(), case_id, form.reason.data, actor())
        except ServiceError as err:
            return render_case(case_id, withdraw_form=form, status=show_refusal(form, err))
        flash(_("The application is withdrawn; its open tasks are cancelled."), "success")
        return redirect(url_for("handler.case", case_id=case_id))
    flash(_("The application was not withdrawn: see the marked fields."), "error")
    return render_case(case_id, withdraw_form=form, status=422)


@bp.get("/cases/<int:case_id>/diagram.bpmn")
@roles_required(*WORK_ROLES, "supervisor")
def case_diagram(case_id: int):
    with viewable_case(case_id) as (case, _session):
        xml = case_view.main_diagram(case.definition)
    return xml, 200, {"Content-Type": "application/xml; charset=utf-8"}


@bp.get("/cases/<int:case_id>/states.json")
@roles_required(*WORK_ROLES, "supervisor")
def case_states(case_id: int):
    with viewable_case(case_id) as (case, _session):
        markers = case_view.element_markers(case)
    return jsonify(markers)


@bp.get("/cases/find")
@roles_required(*WORK_ROLES, "supervisor")
def find_case():
    reference = request.args.get("reference", "").strip()
    if reference:
        with reader() as r:
            found = queries.find_case(r.session, reference)
        if found is not None:
            return redirect(url_for("handler.case", case_id=found.id))
        flash(_("No case with the reference number %(ref)s.", ref=reference), "error")
    return redirect(url_for("handler.home"))


def lane_label(name: str | None) -> str:
    """A lane (the unit's Chinese name) in the user's language."""
    if not name or current_language() == "zh_CN":
        return name or ""
    from flask import g

    if "unit_names" not in g:
        from web.auth import unit_names

        g.unit_names = unit_names()
    return g.unit_names.get(name, name)


def process_name(process_id: str) -> str:
    """A process as a person names it: its matter's name in the user's language; a shared part (acceptance,
    delivery) or a new designer's process keeps its id, which the pages show as code."""
    try:
        code = load_catalog_cached().matter_by_process_id(process_id).code
    except KeyError:
        from workflows.processes import shipped_processes

        own = shipped_processes().by_process_id(process_id)  # 好差评 rectification, complaints, inspections
        if own is None:
            return process_id
        code = own.code
    return dict(matter_choices() + process_choices()).get(code, process_id)


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {
        "me": current_user,
        "process_name": process_name,
        "matter_name": lambda code: dict(matter_choices() + process_choices()).get(code, code),
        "lane_label": lane_label,
    }
