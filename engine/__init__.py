"""BPMN runtime on SpiffWorkflow 3.2.0. Knows nothing of Flask or SQL.

Deploy time
    definitions   compile_process(): safe load -> XSD -> normalise -> restricted compile -> Spiff parse
    xml_safety    load_xml(): size limit, no DOCTYPE/ENTITY, hardened lxml parser
    validation    validate_bpmn(): BPMN 2.0 + spiffworkflow XSD
    expressions   every place a diagram holds code; bare ISO timers and ${...} JUEL normalised in place
    timers, juel  the two normalisations
    bounds        engine bounds checked statically: recursive call activities, literal cardinalities, cycles
    dataflow      every variable a condition/script/timer reads is written upstream on every path (deploy gate)
Run time
    runtime       new_workflow / advance / complete_task / dumps / loads (the one load path) and read models
    sandbox       SandboxedEnvironment + SandboxedScriptEngine: what Spiff runs every script through
    policy        the restricted compiler (RestrictedPython + the engine's own rules), cached by source
    guards        run-time guards and the builtins a script sees
    budget        per-script time/memory budget (sys.settrace)
    limits        per-command bounds: steps, tasks, instances, call and tree depth, timer cycles, data, time
    jsondata      what task data may contain; JSON-safe copies for display
    clock         pinnable "now" for Spiff's timers
Errors are in errors (BpmnError, ScriptError, ScriptTimeout, VariableUnset, DataError; limits.LimitExceeded):
Chinese first, then English.
Working days and deadline clocks live in calendar and deadlines.
"""
