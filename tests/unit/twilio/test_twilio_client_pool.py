"""The SDK client keeps a keep-alive pool as large as its callers and never retries itself."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from flexrec.config import TwilioSettings
from flexrec.twilio.client import POOL_SIZE, make_client


@pytest.mark.parametrize("base_url", ["", "http://127.0.0.1:9"])
@pytest.mark.parametrize("scheme", ["http://", "https://"])
def test_pool_is_large_and_retries_are_off(base_url: str, scheme: str) -> None:
    settings = TwilioSettings(
        account_sid="AC" + "0" * 32, auth_token=SecretStr("t"), base_url=base_url
    )
    http_client = make_client(settings).http_client
    session = getattr(http_client, "session", None)
    assert session is not None
    adapter = session.get_adapter(scheme + "api.twilio.com/")
    assert adapter._pool_maxsize == POOL_SIZE
    assert adapter.max_retries.total == 0
