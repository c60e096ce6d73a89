"""Several schemathesis CLI runs in one process: the runs of the per-scope test differ only in token, config
and the hook's scope, and importing schemathesis costs seconds on a loaded machine, once per process.

stdin: a JSON list of ``{"name", "args", "env", "log"}``; each run's output goes to its log file; stdout: one
JSON line per run with its exit code.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from click.testing import CliRunner
from schemathesis.cli import schemathesis


def main() -> int:
    for run in json.loads(sys.stdin.read()):
        result = CliRunner().invoke(schemathesis, run["args"], env=run["env"], catch_exceptions=True)
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            output += "\n" + "".join(traceback.format_exception(result.exception))
        Path(run["log"]).write_text(output, encoding="utf-8")
        print(json.dumps({"name": run["name"], "exit_code": result.exit_code}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
