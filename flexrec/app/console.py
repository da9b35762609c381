"""How the service app hands its parts to the console (`create_app` mounts the console through
`flexrec.app.archive.mount_archive_and_console`).

Pass the same `MediaLinkSigner` the archive's media routes verify with; without one, a signer
is built from `FLEXREC_CONSOLE_SECRET` (which then must be set, at least 16 characters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.config import Settings
from flexrec.console.router import ConsoleDeps
from flexrec.coverage.service import CoverageReports
from flexrec.recording.policy import load_policy

if TYPE_CHECKING:
    from flexrec.server.services import Services


def console_deps_from_services(
    services: Services, settings: Settings, signer: MediaLinkSigner | None = None
) -> ConsoleDeps:
    """ConsoleDeps from `flexrec.app.services.Services` (sessions, tokens, archive)."""
    secret = settings.server.console_secret.get_secret_value()
    if services.sessions is None:
        raise RuntimeError("the console needs the service's database sessions")
    links = signer or MediaLinkSigner(secret)
    return ConsoleDeps(
        sessions=services.sessions,
        secret=secret,
        media_links=links,
        token_validator=services.tokens,
        waveform_source=services.archive.analyses if services.archive else None,
        pause_behavior=load_policy(settings.policy).pause_behavior,
        # Behind a TLS-terminating proxy the app sees http; the public URL tells the truth.
        secure_cookies=True if settings.server.public_url.startswith("https://") else None,
        token_guard=services.token_guard,
        coverage=_coverage(services, settings),
        exporter=_exporter(services, settings),
    )


def _coverage(services: Services, settings: Settings) -> CoverageReports | None:
    if services.gateway is None or services.sessions is None:
        return None
    policy = load_policy(settings.policy)
    return CoverageReports(services.gateway, services.sessions, policy_leg=policy.leg)


def _exporter(services: Services, settings: Settings) -> Callable[[str, str, str | None], bytes]:
    """Signed exports of the service's archive, read and signed at the moment they are asked."""
    from flexrec.custody.export import export_and_audit, load_signing_key

    def export(recording_sid: str, actor: str, ip: str | None) -> bytes:
        archive = services.archive
        if archive is None:
            raise RuntimeError("the service has no archive")
        # Read per request: an operator may add or rotate the key without a restart.
        key = load_signing_key(settings.storage.export_signing_key.get_secret_value())
        bundle = export_and_audit(
            archive.sessions, archive.store, [recording_sid], signing_key=key,
            archive_key=archive.key, actor=actor, via="console", ip=ip,
            tsa_url=settings.storage.export_tsa_url,
        )  # fmt: skip
        return bundle.zip_bytes()

    return export
