"""Admin API for console accounts (admins only: the admin token or a Flex `admin` role).

`GET /api/admin/users`, `POST /api/admin/users`, `PATCH /api/admin/users/{name}` (disable,
enable, role, worker SID), `PUT /api/admin/users/{name}/password`, `DELETE
/api/admin/users/{name}`, and `GET /api/admin/workers?name=` to find an agent's worker SID in
TaskRouter. Every change is audited under the caller's identity.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from flexrec.accounts import changes as accounts
from flexrec.accounts.users import UserError, create_user
from flexrec.server.auth import admin_caller
from flexrec.server.deps import fail, get_services, get_settings
from flexrec.twilio.flex_tokens import TokenInfo
from flexrec.twilio.gateway import GatewayError
from flexrec.web.responses import ADMIN, documented

router = APIRouter(prefix="/api/admin", tags=["admin"])
ONE_USER = {**ADMIN, **documented(404)}
Username = Annotated[str, Path(min_length=1, max_length=120)]
Role = Literal["agent", "supervisor", "admin"]


async def account_admin(request: Request) -> TokenInfo:
    """Dependency: the admin API's caller, who must hold the `admin` role (not supervisor)."""
    caller = await admin_caller(request)
    if "admin" not in caller.roles:
        fail(403, "forbidden", "managing console accounts needs the admin role")
    return caller


Admin = Annotated[TokenInfo, Depends(account_admin)]


class NewUser(BaseModel):
    """A console account to create."""

    username: str = Field(min_length=1, max_length=120)
    role: Role = "supervisor"
    password: str = Field(min_length=8, max_length=1024)
    worker_sid: str | None = Field(None, pattern=r"^WK[0-9a-f]{32}$")


class UserChange(BaseModel):
    """What to change on an account (omitted fields stay as they are)."""

    disabled: bool | None = None
    role: Role | None = None
    worker_sid: str | None = Field(None, pattern=r"^WK[0-9a-f]{32}$")


class NewPassword(BaseModel):
    """The account's new password."""

    password: str = Field(min_length=8, max_length=1024)


def _run(request: Request, change: Any) -> Any:
    sessions = get_services(request).sessions
    if sessions is None:
        fail(503, "database_unavailable", "no database in this process")
    with sessions() as session:
        try:
            result = change(session)
            session.commit()
        except accounts.NoSuchUser as exc:
            fail(404, "no_such_user", str(exc))
        except UserError as exc:
            fail(400, "bad_user", str(exc))
        return result


@router.get("/users", summary="Console accounts", responses=ADMIN)
def list_users(request: Request, _admin: Admin) -> dict[str, Any]:
    """Every console account (never a password hash)."""
    views = _run(request, accounts.list_accounts)
    return {"items": [v.public() for v in views]}


@router.post("/users", summary="Create a console account", status_code=201, responses=ADMIN)
def add_user(request: Request, admin: Admin, body: NewUser) -> dict[str, Any]:
    """Create an account; an agent needs `worker_sid` (see GET /api/admin/workers)."""

    def create(session: Session) -> accounts.AccountView:
        user = create_user(session, body.username, body.password, body.role, body.worker_sid)
        accounts.audit_account(
            session, "user_created", admin.identity, body.username, role=body.role,
            worker_sid=body.worker_sid,
        )  # fmt: skip
        return accounts.view(user)

    view: accounts.AccountView = _run(request, create)
    return view.public()


@router.patch(
    "/users/{username}",
    summary="Disable, enable or change a console account",
    responses=ONE_USER,
)
def change_user(
    request: Request, admin: Admin, username: Username, body: UserChange
) -> dict[str, Any]:
    """Apply the given changes: `disabled`, `role` (with `worker_sid` for an agent)."""

    def change(session: Session) -> accounts.AccountView:
        view = None
        if body.role is not None:
            view = accounts.change_role(
                session, username, body.role, admin.identity, body.worker_sid
            )
        if body.disabled is not None:
            view = accounts.set_disabled(session, username, body.disabled, admin.identity)
        if view is None:
            raise UserError("nothing to change: give disabled and/or role")
        return view

    view: accounts.AccountView = _run(request, change)
    return view.public()


@router.put(
    "/users/{username}/password",
    summary="Reset a console account's password",
    responses=ONE_USER,
)
def put_password(
    request: Request, admin: Admin, username: Username, body: NewPassword
) -> dict[str, Any]:
    """Set a new password (audited; never logged)."""

    def reset(session: Session) -> accounts.AccountView:
        return accounts.reset_password(session, username, body.password, admin.identity)

    view: accounts.AccountView = _run(request, reset)
    return view.public()


@router.delete(
    "/users/{username}",
    summary="Remove a console account",
    status_code=204,
    responses=ONE_USER,
)
def delete_user(request: Request, admin: Admin, username: Username) -> None:
    """Delete the account (its audit history stays)."""
    _run(request, lambda s: accounts.remove_account(s, username, admin.identity))


@router.get(
    "/workers", summary="TaskRouter workers by name", responses={**ADMIN, **documented(502)}
)
async def list_workers(
    request: Request,
    _admin: Admin,
    name: Annotated[str, Query(max_length=200, description="exact, else contained")] = "",
) -> dict[str, Any]:
    """Find an agent's worker SID by the worker's name (Flex names workers by identity)."""
    from flexrec.twilio.workers import find_workers

    services = get_services(request)
    workspace = get_settings(request).twilio.workspace_sid
    if services.client is None or not workspace:
        fail(503, "twilio_unavailable", "set TWILIO_WORKSPACE_SID to look workers up")
    try:
        found = await run_in_threadpool(find_workers, services.client, workspace, name)
    except GatewayError as exc:
        fail(502, "twilio_error", f"TaskRouter could not be asked: {exc}")
    return {
        "items": [{"sid": w.sid, "friendly_name": w.friendly_name, "activity": w.activity}
                  for w in found]
    }  # fmt: skip
