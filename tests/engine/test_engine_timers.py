"""Timer values, bare ISO 8601 (as Camunda Modeler writes them) and quoted, with a pinned clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from engine_support import definitions, end, process, simple, start, timer_catch, user
from roundtrip import roundtrip
from SpiffWorkflow.bpmn.specs.event_definitions.timer import LOCALTZ

from engine import runtime
from engine.clock import frozen_time
from engine.definitions import compile_process
from engine.timers import is_bare_iso, normalise_timer_text


@pytest.mark.parametrize(
    "text",
    [
        "P14D",
        "PT5S",
        "P1Y2M",
        "P2W",
        "PT0.5S",
        "R6/P1D",
        "R/PT1H",
        "R3/2018-01-01T00:00:00Z/P1D",
        "R2/P1D/2030-01-01T00:00:00Z",
        "2018-05-01T00:00:00Z",
        "2018-05-01",
        "2018-05-01T08:30+08:00",
        " P7D\n",
    ],
)
def test_bare_iso_literals_are_recognised(text: str) -> None:
    assert is_bare_iso(text)
    assert normalise_timer_text(text) == f'"{text.strip()}"'


@pytest.mark.parametrize(
    "text", ['"P14D"', "'PT5S'", "review_period", "P14D + x", "P", "PT", "R6", "deadline.isoformat()", ""]
)
def test_everything_else_stays_an_expression(text: str) -> None:
    assert not is_bare_iso(text)
    assert normalise_timer_text(text) == text


def _timer_case(kind: str, value: str, data: dict | None = None, *, at: datetime):
    compiled = compile_process({"t.bpmn": simple(timer_catch("Wait", kind, value), user("After"))})
    with frozen_time(at):
        return runtime.new_workflow(compiled, data)


def _ready(wf) -> list[str]:
    return [t.spec_name for t in runtime.ready_human_tasks(wf)]


@pytest.mark.parametrize("value", ["P14D", '"P14D"', "'P14D'", "\n   P14D\n  "])
def test_duration_bare_or_quoted(value: str, t0: datetime) -> None:
    wf = _timer_case("timeDuration", value, at=t0)
    assert runtime.next_timer_due(wf) == t0 + timedelta(days=14)
    runtime.advance(wf, now=t0 + timedelta(days=13, hours=23))
    assert _ready(wf) == []
    wf = roundtrip(wf)  # the due time survives a save
    runtime.advance(wf, now=t0 + timedelta(days=14, seconds=1))
    assert _ready(wf) == ["After"]
    assert runtime.next_timer_due(wf) is None


def test_duration_from_an_expression_over_task_data(t0: datetime) -> None:
    wf = _timer_case("timeDuration", "'P' + str(days) + 'D'", {"days": 3}, at=t0)
    assert runtime.next_timer_due(wf) == t0 + timedelta(days=3)


@pytest.mark.parametrize(
    "value", ["2030-05-01T00:00:00Z", '"2030-05-01T00:00:00Z"', "2030-05-01T08:00:00+08:00"]
)
def test_date_bare_or_quoted(value: str, t0: datetime) -> None:
    wf = _timer_case("timeDate", value, at=t0)
    assert runtime.next_timer_due(wf) == datetime(2030, 5, 1, tzinfo=UTC)


def test_date_without_time_is_local_midnight(t0: datetime) -> None:
    wf = _timer_case("timeDate", "2030-05-01", at=t0)
    assert runtime.next_timer_due(wf) == datetime(2030, 5, 1, tzinfo=LOCALTZ)


def test_date_in_the_past_fires_on_the_first_advance(t0: datetime) -> None:
    wf = _timer_case("timeDate", "2018-05-01T00:00:00Z", at=t0)
    runtime.advance(wf, now=t0)
    assert _ready(wf) == ["After"]


def _cycle_case(cycle: str, at: datetime):
    flows = (
        '    <bpmn:boundaryEvent id="Daily" cancelActivity="false" attachedToRef="Wait">'
        f'<bpmn:timerEventDefinition id="Daily_def"><bpmn:timeCycle>{cycle}</bpmn:timeCycle>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>\n"
        '    <bpmn:userTask id="Remind"/>\n    <bpmn:endEvent id="RemindEnd"/>\n'
        '    <bpmn:sequenceFlow id="b1" sourceRef="Daily" targetRef="Remind"/>\n'
        '    <bpmn:sequenceFlow id="b2" sourceRef="Remind" targetRef="RemindEnd"/>\n'
    )
    document = definitions(process("P", start(), user("Wait"), end(), flows=flows))
    with frozen_time(at):
        return runtime.new_workflow(compile_process({"c.bpmn": document}))


@pytest.mark.parametrize("cycle", ["R6/P1D", '"R6/P1D"'])
def test_cycle_bare_or_quoted(cycle: str, t0: datetime) -> None:
    wf = _cycle_case(cycle, t0)
    assert runtime.next_timer_due(wf) == t0 + timedelta(days=1)
    wf = roundtrip(wf)
    # Three missed cycles all run in one tick (a scheduler that was down catches up).
    runtime.advance(wf, now=t0 + timedelta(days=3, seconds=1))
    assert sorted(_ready(wf)) == ["Remind", "Remind", "Remind", "Wait"]
    assert runtime.next_timer_due(wf) == t0 + timedelta(days=4)


def test_cycle_with_a_start_date(t0: datetime) -> None:
    wf = _cycle_case("R3/2030-01-01T00:00:00Z/P1D", t0)
    assert runtime.next_timer_due(wf) == datetime(2030, 1, 1, tzinfo=UTC)


def test_pinned_clock_is_per_thread_and_released(t0: datetime) -> None:
    from engine import clock

    with frozen_time(t0):
        assert clock.now() == t0
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
