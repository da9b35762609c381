"""The Account resource (`/2010-04-01/Accounts[.json|/{AC}.json]`): the simulated account.

Shapes per OAI `api.v2010.account` (`status` active, `type` Full); the list answers the one
account the credentials reach, filtered by exact FriendlyName and Status (OAI `ListAccount`).
"""

from __future__ import annotations

from typing import Any

from flexsim.api.formats import API_VERSION, rfc2822, v2010_page
from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.errors import not_found

FRIENDLY_NAME = "flexsim account"
SUBRESOURCES = (
    *("calls", "conferences", "recordings", "queues", "incoming_phone_numbers"),
    *("applications", "notifications", "transcriptions", "usage", "keys"),
)


def account_view(ctx: ApiContext) -> dict[str, Any]:
    """The Account resource (its auth token included, as Twilio shows it to its owner)."""
    sid = ctx.world.account_sid
    base = f"/{API_VERSION}/Accounts/{sid}"
    return {
        "auth_token": ctx.credentials.get(sid),
        "date_created": rfc2822(ctx.started_at),
        "date_updated": rfc2822(ctx.started_at),
        "friendly_name": FRIENDLY_NAME,
        "owner_account_sid": sid,
        "sid": sid,
        "status": "active",
        "subresource_uris": {
            name: f"{base}/{name.title().replace('_', '')}.json" for name in SUBRESOURCES
        },
        "type": "Full",
        "uri": f"{base}.json",
    }


def list_accounts(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Accounts.json: the simulated account, unless the filters leave it out."""
    q = req.query
    name = q.get("FriendlyName")
    status = q.enum("Status", {"active", "suspended", "closed"})
    page = q.page()
    found = [] if (name not in (None, FRIENDLY_NAME) or status not in (None, "active")) else [1]
    chunk, more = page.slice(found)
    body = v2010_page(
        "accounts",
        [account_view(ctx) for _ in chunk],
        f"/{API_VERSION}/Accounts.json",
        q.filters(["FriendlyName", "Status"]),
        page,
        more,
    )
    return ApiResult(body=body)


def fetch_account(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """GET Accounts/{AC}.json."""
    if req.path_params["Sid"] != ctx.world.account_sid:
        raise not_found(req.path)
    return ApiResult(body=account_view(ctx))


OPERATIONS = [
    Operation("GET", f"/{API_VERSION}/Accounts.json", list_accounts, "api_v2010"),
    Operation("GET", f"/{API_VERSION}/Accounts/{{Sid}}.json", fetch_account, "api_v2010"),
]
