"""warm_sdk imports, once the server answers, every SDK module the control path would import
on its first request (the first recording start paid ~0.1 s of CPU for them)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from twilio.rest import Client
from flexrec.twilio.client import warm_sdk

warm_sdk()
before = set(sys.modules)
client = Client("AC" + "0" * 32, "token")
call = client.calls("CA" + "0" * 32)
call.recordings, call.recordings("RE" + "0" * 32), call.fetch
client.conferences, client.conferences("CF" + "0" * 32).participants
client.recordings("RE" + "0" * 32)
client.taskrouter.v1.workspaces("WS" + "0" * 32).tasks("WT" + "0" * 32)
print(sorted(m for m in set(sys.modules) - before if m.startswith("twilio")))
"""


def test_control_path_imports_nothing_more_after_warm_sdk() -> None:
    result = subprocess.run(  # a fresh interpreter: no test has imported the SDK's modules yet
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
