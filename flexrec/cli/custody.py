"""`flexrec verify`, `export` and `erase`: the archive's proof from the command line.

Each reads the same settings as the service (database, archive store, archive key, policy) and
runs beside it or without it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session, sessionmaker

from flexrec.cli.errors import CliError
from flexrec.config import Settings

EXIT_OK, EXIT_PROBLEMS = 0, 1
_SID = re.compile(r"^RE[0-9a-f]{32}$")


@dataclass
class ArchiveAccess:
    """What the custody commands work on."""

    settings: Settings
    sessions: sessionmaker[Session]
    store: Any
    key: Any
    retention: Any


@contextmanager
def open_archive(settings: Settings | None = None) -> Iterator[ArchiveAccess]:
    """The service's database (migrated), archive store, key and retention policy."""
    from flexrec.archive.crypto import load_archive_key
    from flexrec.archive.retention import load_retention_policy
    from flexrec.archive.storage import open_storage
    from flexrec.cli.admin import open_database

    settings = settings or Settings.from_env()
    storage = settings.storage
    store = open_storage(storage.resolved_archive_url(), storage.s3_endpoint_url)
    key = load_archive_key(storage.archive_key.get_secret_value())
    retention = load_retention_policy(settings.policy.policy_file)
    with open_database(settings) as sessions:
        yield ArchiveAccess(settings, sessions, store, key, retention)


def parse_since(value: str | None) -> datetime | None:
    """`--since`: a date (2026-03-04) or an ISO moment; UTC when no offset is given."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--since {value!r} is not a date (2026-03-04) or ISO time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_sample(value: str | None) -> float | None:
    """`--sample 10%` (or `10`): a share of the sealed objects, above 0 and at most 100."""
    if not value:
        return None
    try:
        pct = float(value.strip().rstrip("%"))
    except ValueError:
        raise CliError(f"--sample {value!r} is not a percentage (e.g. 10%)") from None
    if not 0 < pct <= 100:
        raise CliError("--sample must be above 0% and at most 100%")
    return pct


def check_sids(recordings: list[str]) -> list[str]:
    """Recording SIDs as given, each checked (RE + 32 hex)."""
    for sid in recordings:
        if not _SID.match(sid):
            raise CliError(f"{sid!r} is not a recording SID (RE followed by 32 hex digits)")
    return recordings


def verify_command(
    *, since: str | None, recordings: list[str], sample: str | None, as_json: bool
) -> int:
    """Run verify, print one line per problem (or JSON) and a summary; 0 = all holds."""
    from flexrec.custody.jobs import record_run
    from flexrec.custody.verify import VerifyScope, verify_archive

    scope = VerifyScope(
        since=parse_since(since), recordings=check_sids(recordings), sample_pct=parse_sample(sample)
    )
    with open_archive() as archive:
        report = verify_archive(archive.sessions, archive.store, key=archive.key, scope=scope)
        record_run(archive.sessions, report)
    if as_json:
        typer.echo(json.dumps(report.public(), indent=2))
        return EXIT_OK if report.ok else EXIT_PROBLEMS
    for problem in report.problems:
        typer.echo(problem.line())
    summary = report.public()
    tail = report.unanchored
    locks = report.locks
    typer.echo(
        f"{'OK' if report.ok else 'FAILED'}: {report.objects} objects "
        f"({report.bytes_read / 1e6:.1f} MB, {summary['objects_per_s'] or 0} objects/s) "
        f"re-read; locks: {locks['compliance']} compliance (WORM), {locks['governance']} "
        f"governance, {locks['none']} none, {locks['legal_hold']} on legal hold; audit chain: "
        f"{report.audit_rows} rows, {report.anchors} anchors, unanchored tail "
        f"{tail.get('rows', 0)} rows"
        + (f" from seq={tail['first_seq']}" if tail.get("first_seq") else "")
        + (
            f"; {report.unsealed} recordings archived before sealing (not checked)"
            if report.unsealed
            else ""
        )
        + f"; {len(report.problems)} problems",
        err=True,
    )
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def export_command(*, recordings: list[str], out: Path, by: str | None) -> int:
    """Write a signed export of the recordings into `out`; audited per recording."""
    from flexrec.cli.admin import operator
    from flexrec.custody.export import ExportError, export_and_audit, load_signing_key

    if not recordings:
        raise CliError("name at least one recording: --recording RE...")
    check_sids(recordings)
    if out.exists() and any(out.iterdir()):
        raise CliError(f"{out} is not empty: exports never overwrite evidence, choose a new folder")
    actor = operator(by)
    with open_archive() as archive:
        try:
            signing_key = load_signing_key(
                archive.settings.storage.export_signing_key.get_secret_value()
            )
            bundle = export_and_audit(
                archive.sessions,
                archive.store,
                recordings,
                signing_key=signing_key,
                archive_key=archive.key,
                actor=actor,
                via="cli",
                tsa_url=archive.settings.storage.export_tsa_url,
            )
        except ExportError as exc:
            raise CliError(str(exc)) from None
    bundle.write_to(out)
    typer.echo(
        f"exported {len(bundle.recordings)} recordings to {out} ({len(bundle.files)} files, "
        "signed); check it with the commands in VERIFY.txt"
    )
    return EXIT_OK


def erase_command(*, customer: str, by: str | None, as_json: bool) -> int:
    """Run one erasure request; 0 when everything found was erased, 1 when some must be kept."""
    from flexrec.cli.admin import operator
    from flexrec.custody.erasure import ErasureError, TwilioCopies, erase_customer

    with open_archive() as archive:
        twilio = archive.settings.twilio
        gateway = None
        if twilio.account_sid and (twilio.auth_token.get_secret_value() or twilio.api_key):
            from flexrec.twilio.client import make_client
            from flexrec.twilio.gateway import SdkGateway

            gateway = SdkGateway(make_client(twilio), twilio.account_sid, twilio.workspace_sid)
        try:
            report = erase_customer(
                archive.sessions,
                archive.store,
                TwilioCopies(gateway),
                customer,
                actor=operator(by),
                retention=archive.retention,
            )
        except ErasureError as exc:
            raise CliError(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.public(), indent=2))
    else:
        for sid in report.erased:
            typer.echo(f"erased {sid}")
        for kept in report.kept:
            until = kept.retain_until.isoformat() if kept.retain_until else "no date"
            typer.echo(f"kept {kept.recording_sid}: {kept.reason} until {until} {kept.detail}")
        for line in report.incomplete:
            typer.echo(f"incomplete {line}")
        typer.echo(
            f"request {report.request_id}: {len(report.erased)} erased, {len(report.kept)} kept "
            f"by law or hold, {len(report.incomplete)} steps to run again (audited as `erasure`)",
            err=True,
        )
    return EXIT_OK if not report.kept and not report.incomplete else EXIT_PROBLEMS


def add_custody_commands(app: typer.Typer) -> None:
    """Register `verify` (and the other custody commands) on the root CLI."""

    @app.command()
    def verify(
        since: Annotated[
            str | None, typer.Option(help="Only objects sealed since this date (UTC).")
        ] = None,
        recording: Annotated[
            list[str] | None,
            typer.Option("--recording", help="Only this recording (RE...); repeat for more."),
        ] = None,
        sample: Annotated[
            str | None, typer.Option(help="Re-read a random share of the objects, e.g. 10%.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Re-read archived objects and check hashes, Object Lock and the audit chain.

        Exit 0 when everything holds, 1 with one line per altered, missing or unlocked object
        and per broken audit link.
        """
        raise typer.Exit(
            verify_command(since=since, recordings=recording or [], sample=sample, as_json=as_json)
        )

    @app.command()
    def export(
        recording: Annotated[
            list[str],
            typer.Option("--recording", help="A recording to export (RE...); repeat for more."),
        ],
        out: Annotated[Path, typer.Option(help="A new (or empty) folder to write the export to.")],
        by: Annotated[
            str | None, typer.Option(help="Who asks, for the audit log (default: login name).")
        ] = None,
    ) -> None:
        """Export recordings with chain of custody, signed (FLEXREC_EXPORT_SIGNING_KEY).

        Audio, analysis, the sealed manifest and the audit history of each recording, with
        SHA256SUMS signed in Ed25519: a third party checks it with openssl (VERIFY.txt).
        """
        raise typer.Exit(export_command(recordings=recording, out=out, by=by))

    @app.command()
    def erase(
        customer: Annotated[
            str, typer.Option(help="The customer's phone number, e.g. +15551234567.")
        ],
        by: Annotated[
            str | None, typer.Option(help="Who asks, for the audit log (default: login name).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Erase a customer's recordings and personal data where no duty to keep them applies.

        Recordings under legal hold, a legal-obligation retention rule or a compliance lock are
        kept and listed with their retain-until date (exit 1); the request is audited without
        the number. Run it again to finish steps Twilio did not answer.
        """
        raise typer.Exit(erase_command(customer=customer, by=by, as_json=as_json))
