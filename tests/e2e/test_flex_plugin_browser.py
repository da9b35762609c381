"""The Flex plugin in a real browser against a real `flexrec serve` and the simulator.

The built bundle (plugin-flexrec/build/plugin-flexrec.js) is loaded, as Flex loads a plugin, in
a test page that provides the parts of the Flex host contract the plugin uses
(plugin-flexrec/test-host). That page is served from another origin than the service, so CORS
is exercised as in Flex. An outbound dialpad call: the indicator turns to recording when the
simulated customer answers; pause -> the simulator's recording is paused and the audit row
names the agent; reload -> still shown paused; a renewed token is used; resume; another
agent's token -> the button is disabled and the API refuses. After the call (the task wrapping)
the plugin says it is checking the recording, then shows the card data the archive's stage
silenced, with its span and no digit. Screenshots land in `test-artifacts/plugin-*.png`.
"""

from __future__ import annotations

import functools
import http.server
import json
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import create_engine, select
from testkit import unavailable

from flexrec.db.models import PauseEvent
from flexrec.demo.service_process import ServiceProcess, service_env
from flexsim import RecordingInfo, SimConfig, SimRunner, free_port

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugin-flexrec"
BUNDLE = PLUGIN / "build" / "plugin-flexrec.js"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _required(what: str) -> None:
    unavailable(f"{what} is not installed")


def _built_bundle() -> Path:
    """The plugin bundle, built (and its dependencies installed from the lockfile) if stale."""
    sources = [*PLUGIN.joinpath("src").rglob("*"), PLUGIN / "package-lock.json"]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if BUNDLE.exists() and BUNDLE.stat().st_mtime >= newest:
        return BUNDLE
    npm = shutil.which("npm")
    if npm is None:
        _required("npm")
    assert npm is not None
    if not (PLUGIN / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PLUGIN, check=True)
    subprocess.run([npm, "run", "build"], cwd=PLUGIN, check=True)
    return BUNDLE


class _HostHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the test host page, React's UMD builds and the plugin bundle."""

    ROUTES: ClassVar[dict[str, Path]] = {
        "/": PLUGIN / "test-host" / "index.html",
        "/host.js": PLUGIN / "test-host" / "host.js",
        "/vendor/react.js": PLUGIN / "node_modules/react/umd/react.production.min.js",
        "/vendor/react-dom.js": PLUGIN / "node_modules/react-dom/umd/react-dom.production.min.js",
        "/plugins/plugin-flexrec.js": BUNDLE,
        "/plugins/plugin-flexrec.js.map": BUNDLE.with_suffix(".js.map"),
    }

    def translate_path(self, path: str) -> str:
        return str(self.ROUTES.get(path.split("?", 1)[0], PLUGIN / "missing"))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Live:
    """The simulator, the service, the host page's URL and the outbound call in progress."""

    sim: SimRunner
    service: ServiceProcess
    host_url: str
    database_url: str
    task_sid: str
    worker_sid: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    if not CHROMIUM.exists():
        _required("/usr/bin/chromium")
    _built_bundle()
    workdir: Path = tmp_path_factory.mktemp("plugin")
    host_port, port = free_port(), free_port()
    host = http.server.ThreadingHTTPServer(
        ("127.0.0.1", host_port), functools.partial(_HostHandler, directory=str(PLUGIN))
    )
    threading.Thread(target=host.serve_forever, daemon=True).start()
    config = SimConfig(
        port=0,
        agents=3,
        calls=1,
        scale=1.0,
        seed=7,
        talk_time_median_s=900.0,
        service_url=f"http://127.0.0.1:{port}",
        start_traffic=False,
        scenario_weights={"basic": 1.0},
        inbound_share=0.0,  # an outbound dialpad call: the customer answers after ringing
    )
    database_url = f"sqlite:///{workdir / 'flexrec.db'}"
    try:
        with SimRunner(config) as sim:
            env = service_env(sim, workdir, port, secrets.token_urlsafe(16))
            env["FLEXREC_DATABASE_URL"] = database_url
            env["FLEXREC_CORS_ORIGINS"] = f"http://127.0.0.1:{host_port}"
            env["FLEXREC_CARD_DATA"] = "true"  # the after-call notice needs the stage on
            service = ServiceProcess(env, port, workdir / "service.log")
            service.start()
            try:
                sim.start_traffic()
                task_sid, worker_sid = _accepted_outbound_task(sim)
                yield Live(
                    sim,
                    service,
                    f"http://127.0.0.1:{host_port}/",
                    database_url,
                    task_sid,
                    worker_sid,
                )
            finally:
                service.stop()
    finally:
        host.shutdown()
        host.server_close()


def _accepted_outbound_task(sim: SimRunner) -> tuple[str, str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for reservation in sim.reservations():
            if reservation.status == "accepted":
                return reservation.task_sid, reservation.worker_sid
        time.sleep(0.05)
    raise AssertionError("no outbound task was accepted")


def _customer_recording(live: Live) -> RecordingInfo | None:
    return next((r for r in live.sim.recordings() if r.party == "customer"), None)


def _customer_recording_status(live: Live) -> str | None:
    recording = _customer_recording(live)
    return recording.status if recording is not None else None


def _host_config(live: Live, worker_sid: str, token: str) -> dict[str, Any]:
    return {
        "serviceUrl": live.service.url,
        "token": token,
        "identity": live.sim.agent_identity(worker_sid),
        "workerSid": worker_sid,
        "task": {
            "taskSid": live.task_sid,
            "sid": "WR" + "0" * 32,
            "taskChannelUniqueName": "voice",
            "status": "accepted",
            "attributes": {},
        },
    }


def _state(page: Any) -> str:
    return str(page.get_attribute("[data-testid=flexrec-indicator]", "data-state"))


def _wait_state(page: Any, *states: str, timeout_ms: int = 20_000) -> str:
    page.wait_for_function(
        "states => states.includes(document.querySelector('[data-testid=flexrec-indicator]')"
        "?.dataset.state)",
        arg=list(states),
        timeout=timeout_ms,
    )
    return _state(page)


def _audit(live: Live) -> list[PauseEvent]:
    engine = create_engine(live.database_url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    select(PauseEvent)
                    .where(PauseEvent.task_sid == live.task_sid)
                    .order_by(PauseEvent.id)
                ).all()
            )
    finally:
        engine.dispose()


def test_the_agent_sees_pauses_and_resumes_the_recording_in_flex(live: Live) -> None:
    from playwright.sync_api import sync_playwright

    sim = live.sim
    agent = sim.agent_identity(live.worker_sid)
    token = sim.agent_token(live.worker_sid)
    errors: list[str] = []
    sent_tokens: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 640, "height": 360})
            own_config = _json(_host_config(live, live.worker_sid, token))
            context.add_init_script(f"window.__FLEX_HOST_CONFIG__ = {own_config};")
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on(
                "request",
                lambda r: (
                    sent_tokens.append(r.headers.get("authorization", ""))
                    if "/recording/" in r.url
                    else None
                ),
            )
            page.goto(live.host_url)
            assert page.evaluate("window.flexHost.actions()") == [
                "PauseRecording",
                "ResumeRecording",
            ]

            # Before the customer answers there is no recording; the indicator follows the
            # server to "recording" without a reload when the simulated customer answers.
            first = _wait_state(page, "waiting", "starting", "recording")
            if first != "recording":
                # One DOM snapshot: the indicator and the button may change between two reads.
                shown = page.evaluate(
                    "() => ({state: document.querySelector('[data-testid=flexrec-indicator]')"
                    ".dataset.state, disabled: document.querySelector("
                    "'[data-testid=flexrec-button]').disabled, reason: document.querySelector("
                    "'[data-testid=flexrec-reason]')?.textContent ?? ''})"
                )
                if shown["state"] == "waiting":
                    # A pause may be asked before the customer answers (kept, then applied).
                    assert not shown["disabled"] and not shown["reason"], shown
                page.screenshot(path=str(ARTIFACTS / "plugin-waiting.png"))
            deadline = time.monotonic() + 40
            while _customer_recording(live) is None:
                assert time.monotonic() < deadline, "the customer's leg was never recorded"
                time.sleep(0.05)
            recorded_at = time.monotonic()
            _wait_state(page, "recording")
            lag = time.monotonic() - recorded_at
            print(f"indicator showed the recording {lag:.2f} s after the simulator started it")
            assert lag < 5.0, f"the indicator took {lag:.1f} s to show the recording"
            assert page.is_enabled("[data-testid=flexrec-button]")
            page.screenshot(path=str(ARTIFACTS / "plugin-recording.png"))

            # Pause: the simulator's recording is paused and the audit names the agent.
            page.click("[data-testid=flexrec-button][data-action=pause]")
            _wait_state(page, "paused")
            assert _customer_recording_status(live) == "paused"
            paused = [e for e in _audit(live) if e.action == "pause" and e.result == "paused"]
            assert [(e.actor, e.worker_sid) for e in paused] == [(agent, live.worker_sid)]
            detail = page.inner_text("[data-testid=flexrec-detail]")
            assert detail.startswith("Paused by you at"), detail
            page.screenshot(path=str(ARTIFACTS / "plugin-paused.png"))

            # Reload: shown paused straight away, from the server's state.
            page.reload()
            assert _wait_state(page, "paused", "recording", "unknown") == "paused"
            assert page.inner_text("[data-testid=flexrec-button]") == "Resume recording"

            # Flex renews the token: the next request carries the new one.
            renewed = sim.agent_token(live.worker_sid)
            page.evaluate("t => window.flexHost.renewToken(t)", renewed)
            page.click("[data-testid=flexrec-button][data-action=resume]")
            _wait_state(page, "recording")
            assert sent_tokens[-1] == f"Bearer {renewed}"
            assert _customer_recording_status(live) == "in-progress"
            assert [(e.action, e.result, e.actor) for e in _audit(live)][-1] == (
                "resume",
                "recording",
                agent,
            )

            # Another agent's token: the button is disabled with the reason; the API refuses.
            other = next(sid for sid in sim.agent_sids() if sid != live.worker_sid)
            foreign = sim.agent_token(other)
            stranger = browser.new_context(viewport={"width": 640, "height": 360})
            stranger.add_init_script(
                f"window.__FLEX_HOST_CONFIG__ = {_json(_host_config(live, other, foreign))};"
            )
            page2 = stranger.new_page()
            page2.on("pageerror", lambda exc: errors.append(str(exc)))
            page2.goto(live.host_url)
            assert _wait_state(page2, "forbidden") == "forbidden"
            assert page2.is_disabled("[data-testid=flexrec-button]")
            assert "Not your task" in page2.inner_text("[data-testid=flexrec-reason]")
            page2.screenshot(path=str(ARTIFACTS / "plugin-other-agent.png"))
            refused = page2.evaluate(
                "sid => window.flexHost.invoke('PauseRecording', {taskSid: sid})"
                ".then(() => 'paused', e => e.status)",
                live.task_sid,
            )
            assert refused == 403
            direct = httpx.post(
                f"{live.service.url}/api/agent/tasks/{live.task_sid}/recording/pause",
                headers={"Authorization": f"Bearer {foreign}"},
                timeout=10,
            )
            assert direct.status_code == 403
            assert _customer_recording_status(live) == "in-progress"
        finally:
            browser.close()
    # The other agent's refused requests show as failed loads; nothing else may have failed.
    unexpected = [e for e in errors if "403" not in e]
    assert not unexpected, unexpected


def _json(value: Any) -> str:
    return json.dumps(value)


def test_after_the_call_the_agent_sees_the_card_data_silenced(live: Live) -> None:
    from playwright.sync_api import sync_playwright

    sim = live.sim
    recording = _customer_recording(live)
    assert recording is not None
    token = sim.agent_token(live.worker_sid)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 640, "height": 360})
            config = _json(_host_config(live, live.worker_sid, token))
            context.add_init_script(f"window.__FLEX_HOST_CONFIG__ = {config};")
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(live.host_url)
            _wait_state(page, "recording", "paused")
            # On the call nothing is asked; wrapping up, the plugin asks and the archive has not
            # checked the recording yet.
            assert page.locator("[data-testid=flexrec-card-check]").count() == 0
            page.evaluate("window.flexHost.setTaskStatus('wrapping')")
            page.wait_for_selector("[data-testid=flexrec-card-check][data-status=pending]")
            # The archive's card-data stage records what it silenced (its own writer).
            _stage_found_a_card_number(live, recording.sid)
            notice = page.wait_for_selector("[data-testid=flexrec-card-data]", timeout=15_000)
            assert notice is not None
            reading = page.inner_text("[data-testid=flexrec-card-reading]")
            assert reading.startswith(
                "Card number spoken while recording, 00:20\u201300:26, silenced"
            ), reading
            text = notice.inner_text()
            assert "Pause the recording before the customer reads card details." in text
            assert "4111" not in text
            page.screenshot(path=str(ARTIFACTS / "plugin-card-data.png"))
            # Another agent's token: the notice is refused to them.
            other = next(sid for sid in sim.agent_sids() if sid != live.worker_sid)
            refused = httpx.get(
                f"{live.service.url}/api/agent/tasks/{live.task_sid}/card-data",
                headers={"Authorization": f"Bearer {sim.agent_token(other)}"},
                timeout=10,
            )
            assert refused.status_code == 403
        finally:
            browser.close()
    assert not errors, errors


def _stage_found_a_card_number(live: Live, recording_sid: str) -> None:
    from flexrec.db.base import make_engine, make_session_factory
    from flexrec.pci.detect import Detection
    from flexrec.pci.stage import StageResult
    from flexrec.pci.store import save_result
    from flexrec.transcription.base import Word

    found = Detection(
        kind="card_number", channel=1, start_ms=20_000, end_ms=26_300, rule="luhn", digit_count=16
    )
    result = StageResult(
        kept_wav=b"",
        source_sha256="0" * 64,
        spans_ms=((19_750, 26_550),),
        detections=(found,),
        transcript={1: [Word("[card number]", 20_000, 26_300)], 2: []},
        engine="pocketsphinx",
        mode="silence",
        margin_ms=250,
        audio_s=60.0,
    )
    engine = make_engine(live.database_url)
    try:
        with make_session_factory(engine)() as session:
            save_result(session, recording_sid, result)
            session.commit()
    finally:
        engine.dispose()
