"""How the service app hands its parts to the console (one call for the lead's `create_app`).

    app.include_router(create_console_router(
        lambda: console_deps_from_services(app.state.services, settings, signer)))

Pass the same `MediaLinkSigner` the archive's media routes verify with; without one, a signer
is built from `FLEXREC_CONSOLE_SECRET` (which then must be set, at least 16 characters).
"""

from __future__ import annotations

from typing import Any

from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.config import Settings
from flexrec.console.router import ConsoleDeps, MediaLinks


def console_deps_from_services(
    services: Any, settings: Settings, signer: MediaLinks | None = None
) -> ConsoleDeps:
    """ConsoleDeps from `flexrec.server.wiring.Services` (sessions, tokens, archive)."""
    secret = settings.server.console_secret.get_secret_value()
    if services.sessions is None:
        raise RuntimeError("the console needs the service's database sessions")
    links = signer or getattr(services, "media_signer", None) or MediaLinkSigner(secret)
    return ConsoleDeps(
        sessions=services.sessions,
        secret=secret,
        media_links=links,
        token_validator=services.tokens,
        peaks_source=services.archive,
        pause_behavior=settings.policy.pause_behavior or "silence",
        # Behind a TLS-terminating proxy the app sees http; the public URL tells the truth.
        secure_cookies=True if settings.server.public_url.startswith("https://") else None,
        token_guard=getattr(services, "token_guard", None),
    )
