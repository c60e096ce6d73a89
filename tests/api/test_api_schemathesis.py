"""Schemathesis (pinned) against the live app over HTTP, on SQLite and PostgreSQL: every operation of the
OpenAPI document, with a token holding every scope and a few real cases to find; no server error and no
response outside the documented schemas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from api_support import deploy, new_client, submission
from browser_support import live_server

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def _seed(app) -> None:
    deploy(app, "m07")
    headers = new_client(app, "schemathesis", rate=1_000_000)
    app.token_headers = headers
    client = app.test_client()
    made = client.post("/api/v1/applications", data=submission(), headers=headers, content_type="multipart/form-data")
    assert made.status_code == 201, made.get_data(as_text=True)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(db_url, tmp_path):
    # The coverage phase (boundary and invalid values of every parameter: the validation, the same code on both
    # databases) runs on SQLite; PostgreSQL gets the fuzzing and stateful phases (what reaches storage).
    phases = "coverage,fuzzing,stateful" if db_url.startswith("sqlite") else "fuzzing,stateful"
    with live_server(db_url, _seed) as app:
        auth = app.token_headers["Authorization"]
        result = subprocess.run(
            [str(SCHEMATHESIS), "run", f"{app.base_url}/api/v1/openapi.json", "-H", f"Authorization: {auth}",
             "-c", "not_a_server_error,response_schema_conformance,content_type_conformance",
             "-n", os.environ.get("API_FUZZ_EXAMPLES", "5"), "--phases", phases, "--no-color",
             "--request-timeout", "30"],
            capture_output=True, text=True, timeout=240, cwd=tmp_path,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "passed" in output and "failed" not in output.split("SUMMARY")[-1].lower(), output[-3000:]
