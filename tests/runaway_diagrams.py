"""Diagrams whose scripts run away where the in-process budget (engine.budget) cannot look: inside a single
C call. Only the worker's OS limits (CPU time, address space) and the pool's wall-clock deadline stop them.

Each process (one lane, 审批办): start → a user task "first" → the runaway script "spin" → end. TIMER_*
variants wait for a timer instead of a user task, so the runaway runs when the scheduler fires it.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

# One C call (sum over map over set) that builds 5,000 sets of a million numbers: minutes of CPU, no
# Python line in between for the budget's tracer to stop at. Every step of it passes the guards.
CPU_SCRIPT = """rows = []
for i in range(5000):
    rows.append(range(999999))
total = sum(map(len, map(set, rows)))"""

# One C call (list over map over list) that keeps a thousand lists of a million numbers: tens of GB.
MEMORY_SCRIPT = """rows = []
for i in range(1000):
    rows.append(range(999999))
kept = list(map(list, rows))"""

_DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="{pid}" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="window" name="审批办">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>first</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>spin</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {wait}
    <bpmn:scriptTask id="spin" name="spin"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="spin"/>
    <bpmn:sequenceFlow id="f3" sourceRef="spin" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""

_USER_TASK = """<bpmn:userTask id="first" name="first">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>"""
_TIMER = """<bpmn:intermediateCatchEvent id="first"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="first_timer"><bpmn:timeDuration>"PT1H"</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"""


def runaway(process_id: str, script: str, timer: bool = False) -> bytes:
    return _DOCUMENT.format(pid=process_id, wait=_TIMER if timer else _USER_TASK,
                            script=escape(script)).encode("utf-8")


CPU = runaway("runaway_cpu", CPU_SCRIPT)
MEMORY = runaway("runaway_memory", MEMORY_SCRIPT)
TIMER_CPU = runaway("runaway_timer", CPU_SCRIPT, timer=True)
