"""pytest fixtures for testing a Twilio Flex back-end against flexsim.

Loaded automatically once flexsim is installed (entry point `pytest11`), or explicitly with
`pytest_plugins = ["flexsim.testing.pytest_plugin"]`:

- `flexsim_config`: the `SimConfig` the simulator starts with: a free port, no traffic of its
  own (arrange what each test needs), REST answers without latency, a clock 20 times faster
  than real time. Override the fixture to change it.
- `flexsim`: a running `SimRunner`, stopped after the test.
- `flexsim_client`: the official `twilio.rest.Client` bound to it (`flexsim.testing.sdk_client`).
- `flexsim_in_process`: a whole account in the test's process instead (`InProcessSim`: no
  socket, no thread, a clock the test moves), for unit tests; `.client()` is its SDK client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flexsim.config import SimConfig
    from flexsim.runner import SimRunner
    from flexsim.testing.in_process import InProcessSim


@pytest.fixture
def flexsim_config() -> SimConfig:
    """The simulator's configuration for one test (override this fixture to change it)."""
    from flexsim.config import SimConfig

    return SimConfig(
        port=0,
        agents=4,
        start_traffic=False,
        rate_per_hour=0,
        rest_latency="0",
        scale=20.0,
    )


@pytest.fixture
def flexsim(flexsim_config: SimConfig) -> Iterator[SimRunner]:
    """A running simulator (own thread and port), stopped after the test."""
    from flexsim.runner import SimRunner

    with SimRunner(flexsim_config) as runner:
        yield runner


@pytest.fixture
def flexsim_client(flexsim: SimRunner) -> Iterator[Any]:
    """The official Twilio SDK client, talking to `flexsim`."""
    from flexsim.testing import sdk_client

    client = sdk_client(flexsim)
    yield client
    client.http_client.close()


@pytest.fixture
def flexsim_in_process() -> InProcessSim:
    """A simulated account served in this process (no socket, no thread; see InProcessSim)."""
    from flexsim.testing.in_process import InProcessSim

    return InProcessSim()
