"""Fuzz the whole service harder than the test suite does, and print the figures.

Runs tests/integration/server/test_fuzz_service.py (schemathesis against `/openapi.json`, and
signed mutated forms and Event Streams batches on every webhook route) with a bigger budget per
operation, and prints its summary lines: requests made, answers of 5xx, and operations that
answered a status code their OpenAPI does not list.

    .venv/bin/python bench/fuzz_service.py                 # 200 examples per operation, ~3 min
    .venv/bin/python bench/fuzz_service.py --examples 30   # a quick run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/integration/server/test_fuzz_service.py"


def main() -> int:
    """Run the fuzz test with the given budget; print its figures; its exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="examples per operation")
    args = parser.parse_args()
    env = {**os.environ, "FUZZ_EXAMPLES": str(args.examples), "FLEXREC_LOG_LEVEL": "CRITICAL"}
    run = subprocess.run(  # noqa: S603 - our own interpreter and a fixed argv
        [sys.executable, "-m", "pytest", TEST, "-q", "-s", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    figures = [line for line in run.stdout.splitlines() if " requests, " in line]
    print(f"fuzz budget: {args.examples} examples per operation")
    for line in figures:
        print(line)
    if run.returncode != 0:
        print(run.stdout[-4000:])
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
