#!/usr/bin/env bash
# The whole suite (make test, .ci/run) in two passes:
#   1. every test not marked `serial`, spread over the cores (pytest-xdist, one file per worker at a time, so a
#      file's module fixtures are made once);
#   2. the `serial` ones (timing, OS limits of the engine workers, servers in subprocesses, Chromium; see
#      tests/conftest.py SERIAL) alone on the machine, so a limit they check is met by its cause, not by load.
# Both passes always run; the status is the first failure's. Arguments go to both (a path, -k, -x, …).
set -u
PY=.venv/bin/python
workers=${TEST_WORKERS:-$(nproc)}
status=0
run() {
  "$PY" -m pytest -q -p no:cacheprovider "$@"
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$status" -eq 0 ]; then  # 5: this pass selected no test
    status=$rc
  fi
}
if [ "$workers" -gt 1 ]; then
  run -n "$workers" --dist loadfile -m "not serial" "$@"
else
  run -m "not serial" "$@"
fi
run -m serial "$@"
exit "$status"
