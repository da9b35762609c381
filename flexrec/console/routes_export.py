"""`GET /api/recordings/{RE}/export.zip`: a signed export with chain of custody.

For supervisors and admins only. The same bundle as `flexrec export` (flexrec.custody.export),
zipped, audited as `exported` with `via: console`. (No `from __future__ import annotations`:
FastAPI must resolve the route's `Annotated` dependency, defined in the function, at run time.)
"""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from flexrec.accounts.principal import Principal
from flexrec.console.context import ConsoleContext
from flexrec.custody.export import ExportError, ExportUnavailable
from flexrec.web.responses import CONSOLE, documented


def add_export_routes(router: APIRouter, ctx: ConsoleContext) -> None:
    """The export download."""
    Api = Annotated[Principal, Depends(ctx.api_principal)]

    @router.get(
        "/api/recordings/{recording_sid}/export.zip",
        responses={**CONSOLE, **documented(404, 503)},
    )
    def export_recording(recording_sid: str, request: Request, principal: Api) -> Response:
        """The recording's audio, analysis, manifest and audit history, signed (Ed25519)."""
        if not principal.sees_everything:
            raise HTTPException(403, "exports are for supervisors and admins")
        ctx.check_sid(recording_sid)
        exporter = ctx.deps.exporter
        if exporter is None:
            raise HTTPException(503, "this service has no archive to export from")
        try:
            body = exporter(
                recording_sid, principal.username, request.client.host if request.client else None
            )
        except ExportUnavailable as exc:  # no signing key, the time-stamp authority failing
            raise HTTPException(503, str(exc)) from None
        except ExportError as exc:
            raise HTTPException(404, str(exc)) from None
        return Response(
            body,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{recording_sid}-export.zip"',
                "Cache-Control": "no-store",
            },
        )
