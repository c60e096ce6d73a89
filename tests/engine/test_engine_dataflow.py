"""The static data-flow check of engine/dataflow.py: every variable a condition, script or timer reads must be
written upstream (start data, a form field, a script) on every path — with the lenient rules documented there.
"""

from __future__ import annotations

import pytest
from engine_support import call, condition_flow, definitions, end, process, script, start, timer_catch, user

from engine.dataflow import check_data_flow, code_names

FORMS = {"decision.json": {"decision", "signer"}, "review.json": {"recommendation"}, "site.json": {"result"}}


def _check(*processes: str, main: str = "P", start_variables: set[str] | None = None, files: dict | None = None):
    bundle = files or {"p.bpmn": definitions(*processes)}
    return check_data_flow(bundle, main, start_variables=start_variables or {"channel"},
                           form_fields=lambda name: FORMS.get(name))


def _found(problems) -> set[tuple[str, str, bool]]:
    return {(p.element_id, p.variable, p.on_some_paths) for p in problems}


def _gateway(gid: str, default: str | None = None) -> str:
    return f'    <bpmn:exclusiveGateway id="{gid}"{f" default={chr(34)}{default}{chr(34)}" if default else ""}/>\n'


def _flow(fid: str, source: str, target: str) -> str:
    return f'    <bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}"/>\n'


def _raw(process_id: str, *nodes: str, flows: str) -> str:
    """A process wired only by `flows` (engine_support.process chains the nodes in order)."""
    return f'  <bpmn:process id="{process_id}" isExecutable="true">\n' + "".join(nodes) + flows + "  </bpmn:process>\n"


# --- names in code -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "mode", "must", "maybe", "writes"),
    [
        ("decision == 'approve'", "eval", {"decision"}, set(), set()),
        ("a == 1 and b == 2", "eval", {"a"}, {"b"}, set()),
        ("x if flag else y", "eval", {"flag"}, {"x", "y"}, set()),
        ("applicant.get('email') or applicant['name']", "eval", {"applicant"}, set(), set()),
        ("'k' in d", "eval", {"d"}, set(), set()),
        ("len(items) > 0 and str(n)", "eval", {"items"}, {"n"}, set()),
        ("[i * k for i in items if i]", "eval", {"items"}, {"k"}, set()),
        ("x = 1\ny = x + z", "exec", {"z"}, set(), {"x", "y"}),
        ("n = n + 1", "exec", {"n"}, set(), {"n"}),
        ("n += 1", "exec", {"n"}, set(), {"n"}),
        ("if c == 1:\n    out = v\nelse:\n    out = 0", "exec", {"c"}, {"v"}, {"out"}),
        ("for d in days:\n    total = d\ndel d", "exec", {"days"}, set(), {"total"}),
        ("f = lambda a: a + b\nr = f(1)", "exec", set(), {"b"}, {"f", "r"}),
        ("r = sum([v for v in values])\nt = date(2018, 1, 1)", "exec", {"values"}, set(), {"r", "t"}),
    ],
)
def test_names_read_and_written(source, mode, must, maybe, writes):
    names = code_names(source, mode)
    assert (names.must, names.maybe, names.writes) == (must, maybe, writes)


# --- paths ---------------------------------------------------------------------------------------------------


def test_start_data_form_fields_and_scripts_are_writers() -> None:
    p = process("P", start(), user("decide", form="decision.json"), script("s", "out = decision + channel"),
                script("t", "final = out"), end())
    assert _check(p) == []


def test_a_removed_step_leaves_its_readers_without_a_writer() -> None:
    flows = (_flow("f0", "S", "review") + _flow("f1", "review", "gw")
             + condition_flow("yes", "gw", "ok", 'decision == "approve"')
             + condition_flow("no", "gw", "ko", 'decision == "refuse"'))
    p = _raw("P", start("S"), user("review", form="review.json"), _gateway("gw"), end("ok"), end("ko"), flows=flows)
    problems = _check(p)
    assert _found(problems) == {("yes", "decision", False), ("no", "decision", False)}
    assert all(p.filename == "p.bpmn" and p.reader == "condition" and p.line for p in problems)
    assert "decision" in problems[0].message_zh and "任何路径" in problems[0].message_zh


def test_written_on_one_branch_only_is_not_enough_after_the_merge() -> None:
    flows = (_flow("f0", "S", "ask") + _flow("f1", "ask", "gw")
             + condition_flow("to_site", "gw", "site", 'need == "yes"') + _flow("skip", "gw", "merge")
             + _flow("site_done", "site", "merge") + _flow("to_use", "merge", "use") + _flow("to_end", "use", "E"))
    p = _raw("P", start("S"), script("ask", "need = 'yes'"), _gateway("gw", default="skip"),
             user("site", form="site.json"), _gateway("merge"), script("use", "outcome = result"), end("E"),
             flows=flows)
    assert _found(_check(p)) == {("use", "result", True)}
    # read behind a guard that follows the path: lenient, because some path writes it
    guarded = p.replace("outcome = result", 'outcome = need != "yes" or result == "ok"')
    assert _check(guarded) == []
    # ... but a guarded read of something no path writes is still found
    never = p.replace("outcome = result", 'outcome = need != "yes" or missing == "ok"')
    assert _found(_check(never)) == {("use", "missing", False)}


def test_a_loop_back_edge_does_not_hide_a_missing_first_write() -> None:
    flows = condition_flow("again", "gw", "count", "n &lt; 3")
    p = process("P", start(), script("count", "n = n + 1"), _gateway("gw", default="P_f2"), end(), flows=flows)
    assert _found(_check(p)) == {("count", "n", True)}  # written on the way round, not on the first pass
    fixed = process("P", start(), script("init", "n = 0"), script("count", "n = n + 1"),
                    _gateway("gw", default="P_f3"), end(), flows=flows)
    assert _check(fixed) == []


def test_a_parallel_join_has_what_every_branch_wrote() -> None:
    flows = (_flow("s", "S", "split") + _flow("a", "split", "left") + _flow("b", "split", "right")
             + _flow("c", "left", "join") + _flow("d", "right", "join") + _flow("e", "join", "use")
             + _flow("f", "use", "E"))
    nodes = [start("S"), script("left", "x = 1"), script("right", "y = 2"), script("use", "z = x + y"), end("E")]
    p = _raw("P", '    <bpmn:parallelGateway id="split"/>\n', '    <bpmn:parallelGateway id="join"/>\n', *nodes,
             flows=flows)
    assert _check(p) == []
    # the same shape with exclusive gateways: only one branch ran
    exclusive = p.replace("parallelGateway", "exclusiveGateway")
    assert _found(_check(exclusive)) == {("use", "x", True), ("use", "y", True)}


def test_a_timer_and_a_boundary_path_are_checked() -> None:
    p = process("P", start(), timer_catch("wait", "timeDate", "deadline_at"), end())
    assert _found(_check(p)) == {("wait", "deadline_at", False)}
    boundary = (
        '    <bpmn:boundaryEvent id="late" attachedToRef="decide" cancelActivity="false">'
        '<bpmn:timerEventDefinition><bpmn:timeDuration>"P20D"</bpmn:timeDuration></bpmn:timerEventDefinition>'
        "</bpmn:boundaryEvent>\n" + script("remind", "who = signer") + end("reminded")
        + _flow("b1", "late", "remind") + _flow("b2", "remind", "reminded")
    )
    p = process("P", start(), user("decide", form="decision.json"), end(), flows=boundary)
    # the reminder runs while the decision is still open: its form fields do not exist yet
    assert _found(_check(p)) == {("remind", "signer", False)}


def test_call_activities_pass_data_in_and_out() -> None:
    called = process("Sub", start("s1"), user("decide", form="decision.json"), script("s_use", "x = channel"),
                     end("s_end"))
    main = process("P", start(), call("c", "Sub"), script("after", "y = decision"), end())
    assert _check(main, called) == []
    # the called process reads something the caller does not have: found in the called file, via the call
    files = {"main.bpmn": definitions(main.replace("x = channel", "")),
             "sub.bpmn": definitions(called.replace("x = channel", "x = office"))}
    [problem] = _check(files=files)
    assert (problem.filename, problem.element_id, problem.variable, problem.via) == ("sub.bpmn", "s_use", "office", "c")
    assert "c" in problem.message_zh


def test_what_a_called_process_writes_on_one_end_only_is_not_defined_after_the_call() -> None:
    flows = (_flow("s0", "s1", "gw") + condition_flow("yes", "gw", "decide", 'channel == "window"')
             + _flow("no", "gw", "s_no") + _flow("d_end", "decide", "s_yes"))
    called = _raw("Sub", start("s1"), _gateway("gw", default="no"), user("decide", form="decision.json"),
                  end("s_yes"), end("s_no"), flows=flows)
    main = process("P", start(), call("c", "Sub"), script("after", "y = decision"), end())
    assert _found(_check(main, called)) == {("after", "decision", True)}


def test_an_embedded_sub_process_is_analysed_inline() -> None:
    inner = ('    <bpmn:subProcess id="sub">' + start("i_start") + user("i_decide", form="decision.json")
             + end("i_end") + _flow("i1", "i_start", "i_decide") + _flow("i2", "i_decide", "i_end")
             + "</bpmn:subProcess>\n")
    p = process("P", start(), inner, script("after", "y = decision + signer"), end())
    assert _check(p) == []
    reads_inside = inner.replace(user("i_decide", form="decision.json"), script("i_decide", "z = nowhere"))
    assert _found(_check(process("P", start(), reads_inside, end()))) == {("i_decide", "nowhere", False)}
