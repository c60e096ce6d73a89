"""Every benchmark in turn (`make bench`); each prints its own figures and the baseline it compares with."""

from __future__ import annotations

import subprocess
import sys

BENCHES = (
    ("bench.cases", ["--cases", "200"]),
    ("bench.timers", []),
    ("bench.worklist", []),
    ("bench.http", []),
    ("bench.api", []),
    ("bench.supervisor", []),
)


def main() -> None:
    for module, args in BENCHES:
        print(f"== {module}", flush=True)
        subprocess.run([sys.executable, "-m", module, *args], check=True)


if __name__ == "__main__":
    main()
