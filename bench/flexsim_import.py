"""What `import flexsim` costs a project that only wants part of it: modules loaded and time.

Each measurement runs in a fresh interpreter (nothing cached in `sys.modules`), `--runs` times;
the figures are the median time and the number of modules the statement added to what a bare
interpreter already holds. Run before and after a change to the package's imports:

    .venv/bin/python bench/flexsim_import.py
    .venv/bin/python bench/flexsim_import.py --runs 15 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

STATEMENTS = {
    "import flexsim": "import flexsim",
    "twilio_signature": "from flexsim import twilio_signature",
    "defaults": "from flexsim import defaults",
    "SimRunner": "from flexsim import SimRunner",
    "flexsim.testing": "import flexsim.testing",
}

PROBE = """
import sys, time
base = set(sys.modules)
started = time.perf_counter()
try:
    exec({statement!r})
except ImportError as exc:
    print("missing", exc)
    raise SystemExit(0)
elapsed = time.perf_counter() - started
added = set(sys.modules) - base
heavy = sorted(m for m in ("fastapi", "uvicorn", "numpy", "rich", "aiohttp", "httpx", "twilio")
               if m in added)
print(len(added), elapsed, ",".join(heavy))
"""


def measure(statement: str, runs: int) -> dict[str, object]:
    """Median seconds and modules added by `statement` over `runs` fresh interpreters."""
    times: list[float] = []
    modules = 0
    heavy = ""
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - our own interpreter, a fixed probe
            [sys.executable, "-c", PROBE.format(statement=statement)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if out[0] == "missing":
            return {"statement": statement, "missing": True}
        modules, seconds = int(out[0]), float(out[1])
        heavy = out[2] if len(out) > 2 else ""
        times.append(seconds)
    return {
        "statement": statement,
        "modules": modules,
        "median_ms": round(statistics.median(times) * 1000, 1),
        "heavy": heavy.split(",") if heavy else [],
    }


def main() -> None:
    """Print one line per statement (or one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {name: measure(statement, args.runs) for name, statement in STATEMENTS.items()}
    if args.json:
        print(json.dumps(results))
        return
    for name, result in results.items():
        if result.get("missing"):
            print(f"{name:18} (not in this version)")
            continue
        heavy = ", ".join(result["heavy"]) or "none"  # type: ignore[arg-type]
        print(
            f"{result['statement']:38} {result['modules']:5} modules "
            f"{result['median_ms']:8.1f} ms (median of {args.runs})  heavy: {heavy}"
        )


if __name__ == "__main__":
    main()
