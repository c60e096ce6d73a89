"""No 5xx on any input (issue 8, part 4): the whole url_map walked with hostile values, as anonymous and as
each role, on SQLite and PostgreSQL (see hostile_walk.py for what is sent), then a Hypothesis fuzz over the
same rules with mixed values."""

from __future__ import annotations

import time
from urllib.parse import quote_from_bytes

import pytest
from gate_support import deploy_ungated
from hostile_walk import HOSTILE_BYTES, MORE_BYTES, RECORDER, Walker, build_path, install_recorder, walk_methods
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from web_support import make_app

from app import uow_for, workflows_dir
from services import cases, demo
from services.actors import Actor
from storage.models import HumanTask, ProcessDefinition

SYSTEM = Actor.system("test")
ROLES = {
    "window": "window1",
    "handler": "eia1",
    "lead": "eia_lead",
    "leader": "leader1",
    "supervisor": "supervisor1",
    "designer": "designer1",
    "admin": "admin",
}
M03 = "m03_hazardous_waste_storage"
FAILING = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_walk" targetNamespace="x">
  <bpmn:process id="{M03}" name="walk" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="share" scriptFormat="python"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>share = 100 / parts</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="share"/>
    <bpmn:sequenceFlow id="f2" sourceRef="share" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _world(db_url: str):
    """A fresh install's data: the catalog, the demo users, a running EIA case and a case stopped by an incident."""
    app = make_app(db_url, LOGIN_FAILURE_DELAY=0.0, APPLICANT_LOOKUP_DELAY=0.0, LOGIN_THROTTLE_DELAY=0.0)
    demo.seed(uow_for(app), workflows_dir(app))
    applicant = cases.Applicant(name="吉林某化工有限公司", credit_code="91220101MA0Y4XKX8G")
    running = cases.register_case(uow_for(app), matter_code="m01", applicant=applicant, channel="window",
                                  delivery_mode="post", actor=SYSTEM, data={"report_type": "report"})
    deploy_ungated(uow_for(app), {f"{M03}.bpmn": FAILING}, f"{M03}.bpmn", SYSTEM)  # a toy m03: no gate
    stopped = cases.register_case(uow_for(app), matter_code="m03", applicant=applicant, channel="window",
                                  delivery_mode="post", actor=SYSTEM)
    with uow_for(app, write=False) as r:
        task_id = r.session.execute(select(HumanTask.id).where(HumanTask.case_id == running.case_id)).scalar_one()
        definition_id = r.session.execute(select(ProcessDefinition.id).limit(1)).scalar_one()
    valid = {
        "case_id": str(running.case_id),
        "task_id": task_id,
        "definition_id": str(definition_id),
        "process_id": "m01_eia_approval",
        "code": "m11",
        "reminder_id": "1",
        "filename": "app.css",
    }
    install_recorder(app)
    return app, valid, stopped.case_id


def _clients(app):
    clients = {"anonymous": app.test_client()}
    clients["anonymous"].environ_base["REMOTE_ADDR"] = "10.9.0.1"
    for n, role in enumerate(ROLES, start=2):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.9.0.{n}"
        clients[role] = client
    return clients


def _sign_in(role: str, client) -> None:
    if role == "anonymous":
        return
    response = client.post("/login", data={"username": ROLES[role], "password": demo.DEMO_PASSWORD})
    assert response.status_code == 302, (role, response.status_code)


def test_no_5xx_anywhere_on_hostile_input(db_url):
    started = time.perf_counter()
    app, valid, incident_id = _world(db_url)
    try:
        clients = _clients(app)
        for role, client in clients.items():
            _sign_in(role, client)
        walker = Walker(app, valid, relogin=_sign_in)
        walker.walk(clients)
        # the retry of a real incident: its corrections (a JSON text field) reach the engine
        incident = Walker(app, dict(valid, case_id=str(incident_id)), relogin=_sign_in, findings=walker.findings)
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "admin.retry_incident":
                incident.walk_rule({"admin": clients["admin"]}, rule, "POST")
        took = time.perf_counter() - started
        summary = (f"{walker.requests + incident.requests} requests in {took:.1f} s; "
                   f"slowest: {walker.slowest()}")
        assert not walker.findings, walker.report() + "\n" + summary
        print("\n" + summary)  # noqa: T201
    finally:
        app.extensions["runonce.engine"].dispose()


# ---------------------------------------------------------------- Hypothesis: mixed values on every rule

def _text_values() -> st.SearchStrategy[bytes]:
    texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
    return st.one_of(
        st.sampled_from(HOSTILE_BYTES + MORE_BYTES),
        texts.map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.integers(min_value=-(2**80), max_value=2**80).map(lambda n: str(n).encode()),
        st.binary(max_size=20),
    )


def test_fuzz_every_rule_with_mixed_values(db_url):
    app, valid, _incident = _world(db_url)
    try:
        clients = _clients(app)
        for role, client in clients.items():
            _sign_in(role, client)
        rules = [(rule, method) for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
                 for method in walk_methods(rule)]
        # the parameters each view reads, learned once as admin (a benign probe per rule)
        walker = Walker(app, valid, relogin=_sign_in)
        for rule, method in rules:
            RECORDER.endpoint = None
            walker.hit(clients, "admin", rule, method, walker.valid_path(rule), body=b"" if method == "POST" else None)

        @settings(max_examples=250, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def fuzz(data) -> None:
            role = data.draw(st.sampled_from(sorted(clients)))
            rule, method = data.draw(st.sampled_from(rules))
            encoded = {}
            for name in rule.arguments:
                raw = data.draw(st.one_of(st.just(valid.get(name, "1").encode()), _text_values()))
                encoded[name] = quote_from_bytes(raw, safe="") or "x"
            keys = sorted(set(RECORDER.params.get(rule.endpoint, ())) | {"next"})
            pairs = [(k, data.draw(_text_values())) for k in keys]
            query = "&".join(f"{quote_from_bytes(k.encode(), safe='')}={quote_from_bytes(v, safe='')}"
                             for k, v in pairs)
            url = f"{build_path(rule, encoded)}?{query}"
            walker.hit(clients, role, rule, method, url, body=query.encode() if method == "POST" else None)

        fuzz()
        assert not walker.findings, walker.report()
    finally:
        app.extensions["runonce.engine"].dispose()


@pytest.fixture(autouse=True)
def _forget_recorded_endpoint():
    yield
    RECORDER.endpoint = None
