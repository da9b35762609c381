"""IAM token validation (not in Twilio's OpenAPI specs): what twilio-flex-token-validator calls."""

from __future__ import annotations

import json

from flexsim.api.routing import ApiContext, ApiRequest, ApiResult, Operation
from flexsim.errors import invalid_parameter
from flexsim.tokens import validate_token


def validate(ctx: ApiContext, req: ApiRequest) -> ApiResult:
    """POST /v1/Accounts/{AC}/Tokens/validate with JSON `{"token": ...}`: 200 with `valid`."""
    try:
        payload = json.loads(req.body or b"null")
    except ValueError:
        raise invalid_parameter("body", 'must be JSON {"token": "..."}') from None
    if not isinstance(payload, dict):
        raise invalid_parameter("body", 'must be JSON {"token": "..."}')
    return ApiResult(body=validate_token(ctx.world, payload.get("token")))


OPERATIONS = [Operation("POST", "/v1/Accounts/{AccountSid}/Tokens/validate", validate, None)]
