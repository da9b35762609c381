"""The official Node.js SDK (twilio-node) as flexsim's second client: flexsim/tests/node's
`node --test` against a running simulator with an arranged Flex call, then the world checked
from here. Dependencies come from that folder's own lockfile (`npm ci`, only when it changed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from flexsim import SimConfig, SimRunner
from flexsim.testing import sdk_client

NODE_DIR = Path(__file__).resolve().parents[2] / "node"


def _install() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise AssertionError("node and npm are needed (make system-deps installs them)")
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not marker.exists() or lock.stat().st_mtime > marker.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=600
        )


def test_twilio_node_replays_flex_project_templates_calls() -> None:
    _install()
    config = SimConfig(port=0, agents=2, start_traffic=False, rest_latency="0", scale=20.0)
    with SimRunner(config) as sim:
        arrange = sim.arrange
        agent = arrange.worker("ada")
        customer = arrange.call(from_="+15550001111", to="+15005550006")
        leg = arrange.call(from_="+15005550006", to="client:ada", worker_sid=agent)
        ended = arrange.call(from_="+15550002222", to="+15005550006", status="completed")
        task = arrange.task({"call_sid": customer.sid}, status="assigned", worker_sid=agent)
        conference = arrange.conference(
            task.sid, {customer.sid: None, leg.sid: None}, record_channels=2
        )
        world = {
            "account_sid": config.account_sid,
            "auth_token": config.auth_token,
            "workspace_sid": sim.workspace_sid,
            "task_sid": task.sid,
            "customer_call_sid": customer.sid,
            "worker_call_sid": leg.sid,
            "ended_call_sid": ended.sid,
            "conference_sid": conference.sid,
        }
        result = subprocess.run(
            ["node", "--test", "--test-reporter=spec", "flex_template.test.mjs"],
            cwd=NODE_DIR,
            env={**os.environ, "FLEXSIM_URL": sim.base_url, "FLEXSIM_WORLD": json.dumps(world)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        print(result.stdout[-4000:])  # the run's own report, for the CI log
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert "fail 0" in result.stdout
        recordings = sim.recordings()
        native = sim.recording(conference.recording_sid or "")
        client = sdk_client(sim)
        fetched = client.taskrouter.v1.workspaces(sim.workspace_sid).tasks(task.sid).fetch()
        client.http_client.close()
    # what the Node client did is what the world holds
    assert native is not None and (native.pauses, native.status) == (1, "in-progress")
    made = [r for r in recordings if r.call_sid == customer.sid and r.conference_sid is None]
    assert [(r.channels, r.pauses, r.status) for r in made] == [(2, 1, "in-progress")]
    assert json.loads(fetched.attributes) == {
        "call_sid": customer.sid,
        "node_client": {"replayed": True},
    }
