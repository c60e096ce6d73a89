"""bpmnlint (the repository's .bpmnlintrc) accepts every diagram, and rejects a broken one."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from driver import ROOT, bpmn_files

BPMNLINT = ROOT / "node_modules" / ".bin" / "bpmnlint"


def _lint(*paths) -> subprocess.CompletedProcess:
    if not BPMNLINT.exists() or shutil.which("npx") is None:
        pytest.fail("bpmnlint is not installed: run `make setup` (npm ci)")
    return subprocess.run(["npx", "--no-install", "bpmnlint", *map(str, paths)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_bpmnlint_recommended_passes_all_diagrams():
    result = _lint(*bpmn_files())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stdout, result.stdout


def test_bpmnlint_catches_a_broken_diagram(tmp_path):
    src = (ROOT / "workflows" / "m11_eia_post_assessment_filing.bpmn").read_text(encoding="utf-8")
    broken = src.replace('<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">check_result == "return"'
                         '</bpmn:conditionExpression>', "")
    assert broken != src
    path = tmp_path / "broken.bpmn"
    path.write_text(broken, encoding="utf-8")
    result = _lint(path)
    assert result.returncode != 0
    assert "conditional-flows" in result.stdout
