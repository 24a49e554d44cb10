"""Run every benchmark script in this folder, in smoke size with --smoke (what CI does).

Usage: python benchmarks/run_all.py [--smoke]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    extra = ["--smoke"] if "--smoke" in argv else []
    failed = []
    for script in sorted(HERE.glob("*.py")):
        if script.name.startswith("_") or script.name == Path(__file__).name:
            continue
        print(f"\n=== {script.name} {' '.join(extra)}", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, str(script), *extra])
        print(f"=== {script.name}: exit {rc} in {time.monotonic() - started:.1f}s", flush=True)
        if rc:
            failed.append(script.name)
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
