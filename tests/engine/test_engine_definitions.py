"""Deploy time: hostile or broken diagrams are rejected with file, line and element id; good ones compile."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import (
    call,
    compiled,
    condition_flow,
    definitions,
    end,
    line_of,
    process,
    script,
    simple,
    start,
    timer_catch,
    user,
)

from engine import runtime
from engine.definitions import compile_process, content_hash
from engine.errors import BpmnError

PAYLOAD = "__import__('os').system('touch {canary}')"


def _reject(files: dict[str, bytes], process_id: str | None = None) -> BpmnError:
    with pytest.raises(BpmnError) as err:
        compile_process(files, process_id)
    return err.value


# --- content hash ----------------------------------------------------------------------------------


def test_content_hash_is_stable_and_order_independent() -> None:
    a, b = simple(user("A")), simple(user("B"))
    assert content_hash({"a.bpmn": a, "b.bpmn": b}) == content_hash({"b.bpmn": b, "a.bpmn": a})
    assert content_hash({"a.bpmn": a}) != content_hash({"a.bpmn": b})
    assert content_hash({"a.bpmn": a}) != content_hash({"x.bpmn": a})
    # Length prefixes: moving bytes between name and content changes the hash.
    assert content_hash({"ab": b"c"}) != content_hash({"a": b"bc"})
    assert len(content_hash({"a.bpmn": a})) == 64


# --- code in every place Spiff evaluates it: rejected before anything runs -------------------------


def _gateway_doc(condition: str) -> bytes:
    nodes = (
        start(),
        '    <bpmn:exclusiveGateway id="Gw" default="f_no"/>\n',
        user("Yes"),
        user("No"),
        end(),
    )
    flows = (
        '    <bpmn:sequenceFlow id="f_start" sourceRef="StartEvent" targetRef="Gw"/>\n'
        + condition_flow("f_yes", "Gw", "Yes", condition)
        + '    <bpmn:sequenceFlow id="f_no" sourceRef="Gw" targetRef="No"/>\n'
        '    <bpmn:sequenceFlow id="f_y_end" sourceRef="Yes" targetRef="EndEvent"/>\n'
        '    <bpmn:sequenceFlow id="f_n_end" sourceRef="No" targetRef="EndEvent"/>\n'
    )
    body = "".join(nodes)
    return definitions(f'  <bpmn:process id="P" isExecutable="true">\n{body}{flows}  </bpmn:process>\n')


def _mi_doc(cardinality: str = "3", completion: str | None = None) -> bytes:
    completion_xml = (
        f"<bpmn:completionCondition>{completion}</bpmn:completionCondition>" if completion else ""
    )
    task = (
        '    <bpmn:userTask id="Review" name="会签">\n'
        "      <bpmn:multiInstanceLoopCharacteristics>\n"
        f"        <bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>{completion_xml}\n"
        "      </bpmn:multiInstanceLoopCharacteristics>\n"
        "    </bpmn:userTask>\n"
    )
    return simple(task)


HOSTILE = {
    "script task": (lambda c: simple(script("Evil", PAYLOAD.format(canary=c))), "Evil", "__import__"),
    "import statement": (
        lambda c: simple(script("Evil", f"import os\nos.system('touch {c}')")),
        "Evil",
        "import os",
    ),
    "subclasses escape": (
        lambda c: simple(script("Evil", "x = 1\ny = ().__class__.__base__.__subclasses__()")),
        "Evil",
        "y = ()",
    ),
    "getattr dunder": (lambda c: simple(script("Evil", "getattr(x, '__class__')")), "Evil", "getattr"),
    "gateway condition": (lambda c: _gateway_doc(PAYLOAD.format(canary=c)), "f_yes", "__import__"),
    "timer expression": (
        lambda c: simple(timer_catch("Wait", "timeDuration", PAYLOAD.format(canary=c))),
        "Wait",
        "__import__",
    ),
    "mi cardinality": (lambda c: _mi_doc(cardinality=PAYLOAD.format(canary=c)), "Review", "__import__"),
    "mi completion condition": (
        lambda c: _mi_doc(completion="().__class__.__base__"),
        "Review",
        "().__class__",
    ),
    "pre-script": (lambda c: simple(user("Form", pre=PAYLOAD.format(canary=c))), "Form", "__import__"),
    "post-script": (
        lambda c: simple(user("Form", post=f"import os\nos.system('touch {c}')")),
        "Form",
        "import",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_code_everywhere_is_checked_at_deploy_time(case: str, canary: Path) -> None:
    build, element_id, needle = HOSTILE[case]
    document = build(canary)
    error = _reject({"evil.bpmn": document})
    assert error.code == "script_forbidden"
    assert error.filename == "evil.bpmn"
    assert error.element_id == element_id
    assert error.line == line_of(document, needle)
    assert (
        "evil.bpmn" in str(error)
        and f"element {element_id}" in str(error)
        and f"元素 {element_id}" in str(error)
    )
    assert not canary.exists()


def test_message_payload_and_service_parameters_are_checked() -> None:
    extra = (
        '  <bpmn:message id="Msg" name="m">\n'
        "    <bpmn:extensionElements><spiffworkflow:messagePayload>"
        "().__class__</spiffworkflow:messagePayload></bpmn:extensionElements>\n"
        "  </bpmn:message>\n"
    )
    document = definitions(
        process("P", start(), '    <bpmn:sendTask id="Send" messageRef="Msg"/>\n', end()), extra=extra
    )
    error = _reject({"m.bpmn": document})
    assert (error.code, error.element_id, error.line) == (
        "script_forbidden",
        "Msg",
        line_of(document, "().__"),
    )

    service = (
        '    <bpmn:serviceTask id="Svc"><bpmn:extensionElements>'
        '<spiffworkflow:serviceTaskOperator id="http/get"><spiffworkflow:parameters>'
        '<spiffworkflow:parameter id="url" type="str" value="__import__(\'os\')"/>'
        "</spiffworkflow:parameters></spiffworkflow:serviceTaskOperator></bpmn:extensionElements>"
        "</bpmn:serviceTask>\n"
    )
    error = _reject({"s.bpmn": simple(service)})
    assert (error.code, error.element_id) == ("script_forbidden", "Svc")


def test_script_error_line_is_the_line_inside_the_file() -> None:
    document = simple(script("Calc", "a = 1\nb = 2\nc = a.__dict__"))
    error = _reject({"calc.bpmn": document})
    assert error.line == line_of(document, "c = a.__dict__")


def test_syntax_errors_are_reported_like_forbidden_code() -> None:
    document = simple(script("Calc", "x = (1"))
    error = _reject({"calc.bpmn": document})
    assert error.code == "script_forbidden" and error.element_id == "Calc"
    assert "语法错误" in error.message


# --- schema and parser errors ------------------------------------------------------------------------


def test_xsd_violation_names_line_and_element() -> None:
    document = simple('    <bpmn:userTask id="Odd" bogus="1"/>\n')
    error = _reject({"odd.bpmn": document})
    assert (error.code, error.element_id, error.line) == ("xsd", "Odd", line_of(document, 'id="Odd"'))


def test_missing_called_process_names_the_call_activity() -> None:
    document = simple(call("CallIt", "Nowhere"))
    error = _reject({"main.bpmn": document})
    assert error.code == "parse"
    assert (error.filename, error.element_id, error.line) == (
        "main.bpmn",
        "CallIt",
        line_of(document, 'id="CallIt"'),
    )
    assert "Nowhere" in error.message


def test_unsupported_element_is_a_parse_error_with_location() -> None:
    document = simple('    <bpmn:complexGateway id="Complex"/>\n')
    error = _reject({"c.bpmn": document})
    assert (error.code, error.element_id) == ("parse", "Complex")
    assert error.line == line_of(document, 'id="Complex"')


def test_invalid_timer_literal_is_rejected() -> None:
    document = simple(timer_catch("Wait", "timeDuration", '"P14X"'))
    error = _reject({"t.bpmn": document})
    assert (error.code, error.element_id, error.line) == ("timer", "Wait", line_of(document, '"P14X"'))


def test_a_duration_is_not_a_date() -> None:
    error = _reject({"t.bpmn": simple(timer_catch("Wait", "timeDate", "P1D"))})
    assert error.code == "timer"


# --- choosing the process ----------------------------------------------------------------------------


def test_main_process_is_the_executable_one_nobody_calls_across_files() -> None:
    main = definitions(process("Main", start(), user("Accept", "受理"), call("Check", "Sub"), end()))
    sub = definitions(process("Sub", start("SubStart"), user("Inspect", "现场核查"), end("SubEnd")))
    result = compile_process({"main.bpmn": main, "sub.bpmn": sub})
    assert result.process_id == "Main"
    assert set(result.subprocess_specs) == {"Sub"}
    assert set(result.human_tasks) == {"Accept", "Inspect"}
    assert result.files == {"main.bpmn": main, "sub.bpmn": sub}


def test_several_candidates_need_an_explicit_process_id() -> None:
    document = definitions(process("A", start("SA"), end("EA")), process("B", start("SB"), end("EB")))
    assert _reject({"two.bpmn": document}).code == "ambiguous_process"
    assert compile_process({"two.bpmn": document}, "B").process_id == "B"
    assert _reject({"two.bpmn": document}, "C").code == "unknown_process"


def test_no_executable_process() -> None:
    document = definitions(process("A", start(), end(), executable=False))
    assert _reject({"a.bpmn": document}).code == "no_process"
    assert _reject({}).code == "no_process"


# --- what the service layer gets -------------------------------------------------------------------------


def test_human_tasks_and_lanes_over_main_and_sub_processes() -> None:
    lanes = (
        '      <bpmn:lane id="L1" name="审批办"><bpmn:flowNodeRef>Accept</bpmn:flowNodeRef></bpmn:lane>\n'
        '      <bpmn:lane id="L2" name="环评处"><bpmn:flowNodeRef>Review</bpmn:flowNodeRef>'
        "<bpmn:flowNodeRef>Sub</bpmn:flowNodeRef></bpmn:lane>\n"
        '      <bpmn:lane id="L3" name="空车道"/>\n'
    )
    sub = (
        '    <bpmn:subProcess id="Sub">\n'
        '      <bpmn:startEvent id="SubStart"/><bpmn:manualTask id="Visit" name="现场核查"/>\n'
        '      <bpmn:endEvent id="SubEnd"/>\n'
        '      <bpmn:sequenceFlow id="s1" sourceRef="SubStart" targetRef="Visit"/>\n'
        '      <bpmn:sequenceFlow id="s2" sourceRef="Visit" targetRef="SubEnd"/>\n'
        "    </bpmn:subProcess>\n"
    )
    document = definitions(
        process(
            "P",
            start(),
            user("Accept", "受理", form="accept.json", doc="核对材料"),
            user("Review", "审查"),
            sub,
            end(),
            lanes=lanes,
        )
    )
    result = compile_process({"p.bpmn": document})
    assert result.lanes == ["审批办", "环评处"]
    accept = result.human_tasks["Accept"]
    assert (accept.name, accept.title, accept.lane, accept.form) == (
        "Accept",
        "受理",
        "审批办",
        "accept.json",
    )
    assert accept.properties == {"formJsonSchemaFilename": "accept.json"}
    assert accept.documentation == "核对材料"
    assert result.human_tasks["Review"].form is None
    assert (
        result.human_tasks["Visit"].lane == "环评处"
    )  # a sub-process's tasks take the lane of the sub-process


def test_compiled_process_runs() -> None:
    result = compiled(user("A", "第一步"))
    wf = runtime.new_workflow(result)
    assert [t.spec_name for t in runtime.ready_human_tasks(wf)] == ["A"]


@pytest.mark.parametrize("bad_id", ["Start", "End", "P.EndJoin", "Task_1.BoundaryEventSplit"])
def test_ids_that_clash_with_spiff_internals_are_rejected(bad_id: str) -> None:
    # SpiffWorkflow names its own task specs "Start", "End", "<process>.EndJoin", ...; an element with such
    # an id silently replaces one of them and the process never starts.
    document = simple(user(bad_id))
    error = _reject({"ids.bpmn": document})
    assert (error.code, error.element_id) == ("reserved_id", bad_id)
    assert error.line == line_of(document, f'id="{bad_id}"')
