"""Schemathesis (pinned) against the live app over HTTP, on SQLite and PostgreSQL, with a token of every scope:
no server error and no response outside the documented schemas.

One run per scope, its token holding only that scope: the scope's own operations are generated in full
(``API_FUZZ_EXAMPLES`` per operation, and on SQLite the coverage phase's boundary and invalid values), every
other operation gets one example that must be refused with 403 problem+json (tests/api/schemathesis_scope_check).
Then a token with every scope follows the OpenAPI links from a new case or subscription to the operations
that take it (the stateful phase, with a real case seeded to find).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from api_support import deploy, new_client, submission
from browser_support import live_server

from services import api_clients

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,problem_in_chinese"
HERE = Path(__file__).resolve().parent


def _seed(app) -> None:
    deploy(app, "m07")
    app.tokens = {scope: new_client(app, f"st-{scope}", scope, rate=1_000_000)["Authorization"]
                  for scope in api_clients.SCOPES}
    headers = new_client(app, "schemathesis", rate=1_000_000)
    app.tokens["*"] = headers["Authorization"]
    made = app.test_client().post("/api/v1/applications", data=submission(), headers=headers,
                                  content_type="multipart/form-data")
    assert made.status_code == 201, made.get_data(as_text=True)


def _operations(app) -> dict[str, str]:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return {op["operationId"]: op["x-required-scope"] for item in spec["paths"].values()
            for method, op in item.items() if method in ("get", "post", "put", "patch", "delete")}


def _toml(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON strings, numbers, booleans and arrays are TOML too


def _config(path: Path, *, coverage: bool, fuzzing: bool, stateful: bool, examples: int, refused: list[str]
            ) -> Path:
    """A schemathesis.toml: the run's phases, and for the operations outside the token's scope one positive
    example without the coverage phase (the settings of an operation beat the run's, CLI options beat both,
    so nothing here is passed on the command line)."""
    lines = [f"generation.max-examples = {examples}",
             "[phases.examples]", "enabled = false",
             "[phases.coverage]", f"enabled = {_toml(coverage)}",
             "[phases.fuzzing]", f"enabled = {_toml(fuzzing)}",
             "[phases.stateful]", f"enabled = {_toml(stateful)}"]
    if refused:
        lines += ["[[operations]]", f"include-operation-id = {_toml(refused)}",
                  "generation.max-examples = 1", 'generation.mode = "positive"', "phases.coverage.enabled = false",
                  "warnings = false"]  # "only 403 answers" is the point here, not a missing token
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_all(app, tmp_path: Path, runs: list[tuple[str, str, Path, str | None, str]]) -> None:
    """Every run (name, token, config, the token's scope, checks) in one schemathesis process
    (tests/api/schemathesis_driver.py); each must pass with 0 failures."""
    plan = [{"name": name, "log": str(tmp_path / f"{config.stem}.log"),  # kept for a look after a failure
             "env": {"SCHEMATHESIS_HOOKS": "schemathesis_scope_check", "RUNONCE_TOKEN_SCOPE": scope or ""},
             "args": ["--config-file", str(config), "run", f"{app.base_url}/api/v1/openapi.json",
                      "-H", f"Authorization: {token}", "-c", checks, "--no-color", "--request-timeout", "30"]}
            for name, token, config, scope, checks in runs]
    result = subprocess.run([sys.executable, str(HERE / "schemathesis_driver.py")], input=json.dumps(plan),
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(HERE)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    codes = {line["name"]: line["exit_code"] for line in map(json.loads, result.stdout.splitlines())}
    assert set(codes) == {run["name"] for run in plan}, result.stdout + result.stderr[-3000:]
    for run in plan:
        output = Path(run["log"]).read_text(encoding="utf-8")
        name = run["name"]
        assert codes[name] == 0, f"[{name}]\n{output[-6000:]}"
        summary = output.split("SUMMARY")[-1]
        counts = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed(.*)", summary)
        assert counts and counts.group(1) == counts.group(2) and not counts.group(3).strip(), f"[{name}]\n{summary}"
        assert "Failures:" not in summary and "Errors:" not in summary, f"[{name}]\n{summary}"


def test_schemathesis_finds_no_server_error_and_no_schema_violation_for_any_scope(db_url, tmp_path):
    # The coverage phase (boundary and invalid values of every parameter: the validation, the same code on both
    # databases) runs on SQLite; PostgreSQL gets the fuzzing and stateful phases (what reaches storage).
    coverage = db_url.startswith("sqlite")
    examples = int(os.environ.get("API_FUZZ_EXAMPLES", "3"))
    with live_server(db_url, _seed) as app:
        operations = _operations(app)
        assert set(operations.values()) == set(api_clients.SCOPES)
        runs = []
        for scope in api_clients.SCOPES:
            refused = sorted(op for op, needed in operations.items() if needed != scope)
            config = _config(tmp_path / f"{scope.replace(':', '-')}.toml", coverage=coverage, fuzzing=True,
                             stateful=False, examples=examples, refused=refused)
            runs.append((scope, app.tokens[scope], config, scope, CHECKS + ",scope_enforced"))
        config = _config(tmp_path / "all.toml", coverage=False, fuzzing=False, stateful=True, examples=examples,
                         refused=[])
        runs.append(("every scope, stateful", app.tokens["*"], config, None, CHECKS))
        _run_all(app, tmp_path, runs)


def test_the_scope_check_can_fail():
    """The hook refuses an out-of-scope operation that answers anything but 403 insufficient-scope."""
    sys.path.insert(0, str(HERE))
    import schemathesis_scope_check as hook

    class Operation:
        label = "GET /api/v1/cases"
        definition = type("D", (), {"raw": {"x-required-scope": "cases:read"}})()

    class Case:
        operation = Operation()

    def response(status: int, kind: str, media: str = "application/problem+json"):
        return type("R", (), {"status_code": status, "headers": {"Content-Type": [media]},
                              "content": json.dumps({"type": f"https://x/{kind}"}).encode()})()

    os.environ["RUNONCE_TOKEN_SCOPE"] = "matters:read"
    try:
        hook.scope_enforced(None, response(403, "insufficient-scope"), Case())
        hook.scope_enforced(None, response(404, "not-found"), Case())
        for wrong in (response(200, "x", "application/json"), response(422, "invalid"),
                      response(403, "insufficient-scope", "application/json")):
            with pytest.raises(AssertionError):
                hook.scope_enforced(None, wrong, Case())
        os.environ["RUNONCE_TOKEN_SCOPE"] = "cases:read"
        hook.scope_enforced(None, response(200, "x", "application/json"), Case())  # its own scope: not judged
    finally:
        os.environ.pop("RUNONCE_TOKEN_SCOPE", None)
