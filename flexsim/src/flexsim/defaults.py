"""Documented default credentials and SIDs of the simulated Twilio account."""

ACCOUNT_SID = "ACf1e00000000000000000000000000001"
AUTH_TOKEN = "simulator-auth-token"  # noqa: S105 - a published simulator default, not a secret
API_KEY_SID = "SKf1e00000000000000000000000000001"
API_KEY_SECRET = "simulator-api-secret"  # noqa: S105 - published simulator default
WORKSPACE_SID = "WSf1e00000000000000000000000000001"
DEFAULT_PORT = 8181
