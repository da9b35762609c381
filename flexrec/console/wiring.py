"""How the service app hands its parts to the console (`create_app` mounts the console through
`flexrec.server.archive_wiring.mount_archive_and_console`).

Pass the same `MediaLinkSigner` the archive's media routes verify with; without one, a signer
is built from `FLEXREC_CONSOLE_SECRET` (which then must be set, at least 16 characters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.config import Settings
from flexrec.console.router import ConsoleDeps, MediaLinks
from flexrec.coverage.service import CoverageReports
from flexrec.recording.policy import load_policy

if TYPE_CHECKING:
    from flexrec.server.wiring import Services


def console_deps_from_services(
    services: Services, settings: Settings, signer: MediaLinks | None = None
) -> ConsoleDeps:
    """ConsoleDeps from `flexrec.server.wiring.Services` (sessions, tokens, archive)."""
    secret = settings.server.console_secret.get_secret_value()
    if services.sessions is None:
        raise RuntimeError("the console needs the service's database sessions")
    links = signer or MediaLinkSigner(secret)
    return ConsoleDeps(
        sessions=services.sessions,
        secret=secret,
        media_links=links,
        token_validator=services.tokens,
        waveform_source=services.archive,
        pause_behavior=settings.policy.pause_behavior or "silence",
        # Behind a TLS-terminating proxy the app sees http; the public URL tells the truth.
        secure_cookies=True if settings.server.public_url.startswith("https://") else None,
        token_guard=services.token_guard,
        coverage=_coverage(services, settings),
    )


def _coverage(services: Services, settings: Settings) -> CoverageReports | None:
    if services.gateway is None or services.sessions is None:
        return None
    policy = load_policy(settings.policy)
    return CoverageReports(services.gateway, services.sessions, policy_leg=policy.leg)
