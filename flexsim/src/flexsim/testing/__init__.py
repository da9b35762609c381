"""Point the official Twilio SDK at a simulator: an SDK HTTP client, its async twin, an httpx
transport into an in-process app, and `sdk_client` to build a `twilio.rest.Client` with them.

The SDK has no base-URL setting; its documented extension point is a custom `HttpClient`
(twilio-python `twilio.http.HttpClient`, passed as `Client(..., http_client=...)`). These
clients keep each request's path and query and send it to the simulator instead of
`*.twilio.com` (every Twilio host: api, taskrouter, flex-api, iam, events), over real HTTP to
a running simulator or in process to its ASGI app:

    from flexsim.testing import sdk_client

    client = sdk_client("http://127.0.0.1:8181")        # a running `flexsim`
    client = sdk_client(runner)                         # a SimRunner (its URL and credentials)
    client = sdk_client(create_sim_app(world))          # in process, no socket

`InProcessSim` is a whole simulated account in the test's process (no socket, no thread, a
clock the test moves), with its arrange API, fault plan and request log; `make_wav` makes media
to arrange. Pytest fixtures for all this are in `flexsim.testing.pytest_plugin` (loaded by
pytest automatically once flexsim is installed). Needs the `twilio` package
(`flexsim[testing]`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twilio.http import HttpClient
from twilio.rest import Client

from flexsim import defaults
from flexsim.testing.asgi import AppTransport
from flexsim.testing.http import (
    IN_PROCESS_ORIGIN,
    ASGIApp,
    AsyncSimHttpClient,
    SimHttpClient,
    rebase,
)

if TYPE_CHECKING:
    from flexsim.request_log import LoggedRequest, RequestLog
    from flexsim.runner import SimRunner
    from flexsim.testing.in_process import InProcessSim
    from flexsim.testing.wav import make_wav

__all__ = [
    "AppTransport",
    "AsyncSimHttpClient",
    "InProcessSim",
    "LoggedRequest",
    "RequestLog",
    "SimHttpClient",
    "make_wav",
    "rebase",
    "sdk_client",
]

# Loaded on first use: the web app and numpy are heavier than the SDK clients above.
_LAZY = {
    "InProcessSim": "flexsim.testing.in_process",
    "LoggedRequest": "flexsim.request_log",
    "RequestLog": "flexsim.request_log",
    "make_wav": "flexsim.testing.wav",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sdk_client(
    target: str | SimRunner | ASGIApp | None = None,
    *,
    account_sid: str | None = None,
    auth_token: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    asynchronous: bool = False,
) -> Client:
    """The official `twilio.rest.Client`, talking to a simulator.

    `target`: a base URL (default `http://127.0.0.1:8181`), a `SimRunner` (its URL and
    credentials), or the simulator's ASGI app (in process). Credentials default to the
    simulated account's (`flexsim.defaults`); `api_key`/`api_secret` authenticate with an API
    key instead of the auth token. `asynchronous`: for the SDK's `*_async` methods.
    """
    from flexsim.runner import SimRunner

    base_url = f"http://127.0.0.1:{defaults.DEFAULT_PORT}"
    app: ASGIApp | None = None
    if isinstance(target, SimRunner):
        base_url = target.base_url
        account_sid = account_sid or target.config.account_sid
        auth_token = auth_token or target.config.auth_token
    elif isinstance(target, str):
        base_url = target
    elif target is not None:
        app = target
    http: HttpClient
    if asynchronous:
        http = AsyncSimHttpClient.for_app(app) if app else AsyncSimHttpClient(base_url)
    else:
        http = (
            SimHttpClient(IN_PROCESS_ORIGIN, transport=AppTransport(app))
            if app
            else SimHttpClient(base_url)
        )
    account = account_sid or defaults.ACCOUNT_SID
    if api_key:
        return Client(api_key, api_secret, account, http_client=http)
    return Client(account, auth_token or defaults.AUTH_TOKEN, http_client=http)
