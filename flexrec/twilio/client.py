"""Builds the official SDK client, optionally rebased onto one origin (the simulator)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from flexrec.config import TwilioSettings

# Keep-alive connections kept per host: at least the webhook threads plus the queue workers, or
# urllib3 drops the surplus ("Connection pool is full") and every request pays a new connect.
POOL_SIZE = 64


class RebasingHttpClient(TwilioHttpClient):
    """An SDK HTTP client that sends every `*.twilio.com` request to one base URL.

    The SDK has no base-URL setting; a custom `HttpClient` is its documented extension point.
    Paths are kept, so the target must serve Twilio's paths on one origin. No retries are
    mounted: a retried recording create could make a second recording.
    """

    def __init__(self, base_url: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(base_url.rstrip("/"))
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path

    def rebase(self, url: str) -> str:
        """Return `url` with its scheme and host replaced by the base URL's."""
        parts = urlsplit(url)
        if not parts.netloc.endswith("twilio.com"):
            return url
        return urlunsplit(
            (self._scheme, self._netloc, self._prefix + parts.path, parts.query, parts.fragment)
        )

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method,
            self.rebase(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def make_client(settings: TwilioSettings) -> Client:
    """Create the SDK client the service uses, with SDK retries off and a request timeout."""
    http_client: TwilioHttpClient
    if settings.base_url:
        http_client = RebasingHttpClient(settings.base_url, timeout=settings.timeout_s)
    else:
        http_client = TwilioHttpClient(timeout=settings.timeout_s)
    if http_client.session is not None:
        # max_retries=0: requests never retries on its own, so a create cannot run twice.
        adapter = HTTPAdapter(pool_maxsize=POOL_SIZE, max_retries=0)
        http_client.session.mount("https://", adapter)
        http_client.session.mount("http://", adapter)
    if settings.api_key:
        return Client(
            settings.api_key,
            settings.api_secret.get_secret_value(),
            account_sid=settings.account_sid,
            http_client=http_client,
        )
    return Client(
        settings.account_sid, settings.auth_token.get_secret_value(), http_client=http_client
    )
