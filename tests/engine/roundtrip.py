"""Save and load a case the way the service layer does: the state references its deployed spec."""

from __future__ import annotations

from types import SimpleNamespace

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from engine import runtime


def roundtrip(wf: BpmnWorkflow) -> BpmnWorkflow:
    deployed = SimpleNamespace(spec=wf.spec, subprocess_specs=wf.subprocess_specs)
    return runtime.loads(runtime.dumps(wf), deployed)
