"""Twilio's OpenAPI specs as JSON Schema validators for the simulator's responses.

OpenAPI 3.0 is not JSON Schema: `nullable` becomes a `null` type, and Twilio's custom formats
(`date-time-rfc-2822`, `uri-map`, `currency`) get checkers. On top of the specs the checks are
stricter than Twilio's documents: every documented property must be present (Twilio always
sends every key) and no undocumented one may appear (catching typos in the simulator).
Two documented imprecisions are allowed: v2010 page links are relative although typed `uri`,
and `reason_conference_ended` is null while a conference runs although its enum lacks null.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema

SPEC_DIR = Path(__file__).resolve().parents[4] / "vendor" / "twilio-oai"
SPEC_FILES = {
    "api_v2010": "twilio_api_v2010.json",
    "taskrouter_v1": "twilio_taskrouter_v1.json",
    "flex_v1": "twilio_flex_v1.json",
    "events_v1": "twilio_events_v1.json",
}
# Which spec each Twilio host's paths belong to (IAM has no spec).
HOST_SPECS = {
    "api.twilio.com": "api_v2010",
    "taskrouter.twilio.com": "taskrouter_v1",
    "flex-api.twilio.com": "flex_v1",
    "events.twilio.com": "events_v1",
    "iam.twilio.com": None,
}
NULL_WHILE_RUNNING = frozenset({"reason_conference_ended"})
_DROP = frozenset({"nullable", "description", "example", "examples", "x-twilio"})

_RFC2822 = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} \+0000"
)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")

FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time-rfc-2822", raises=(TypeError, ValueError))
def _rfc2822(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = email.utils.parsedate_to_datetime(value)
    return bool(_RFC2822.fullmatch(value)) and parsed.utcoffset() == datetime.timedelta(0)


@FORMATS.checks("date-time", raises=ValueError)
def _iso8601(value: object) -> bool:
    if not isinstance(value, str):
        return True
    datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return bool(_ISO.fullmatch(value))


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if value.startswith("/2010-04-01/"):  # v2010 page links: relative, as Twilio sends them
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@FORMATS.checks("uri-map")
def _uri_map(value: object) -> bool:
    if not isinstance(value, dict):
        return True
    return all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


@FORMATS.checks("currency")
def _currency(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"[A-Z]{3}", value))


def to_json_schema(node: Any) -> Any:
    """Convert an OpenAPI 3.0 schema to a strict JSON Schema (see the module docstring)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            props = {name: to_json_schema(schema) for name, schema in value.items()}
            for name in NULL_WHILE_RUNNING & props.keys():
                props[name] = {"anyOf": [props[name], {"type": "null"}]}
            out["properties"] = props
            out["required"] = sorted(props)
            out["additionalProperties"] = False
        else:
            out[key] = to_json_schema(value)
    if node.get("nullable"):
        if "$ref" in out:
            return {"anyOf": [out, {"type": "null"}]}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@cache
def load_spec(name: str) -> dict[str, Any]:
    """A spec file, parsed."""
    spec: dict[str, Any] = json.loads((SPEC_DIR / SPEC_FILES[name]).read_text())
    return spec


@cache
def _components(name: str) -> dict[str, Any]:
    schemas = load_spec(name)["components"]["schemas"]
    return {"schemas": {key: to_json_schema(value) for key, value in schemas.items()}}


@cache
def response_validator(
    spec: str, template: str, method: str, status: int
) -> jsonschema.Draft202012Validator | None:
    """The validator of one documented response (None: documented without a body)."""
    operation = load_spec(spec)["paths"][template][method.lower()]
    responses = operation["responses"]
    if str(status) not in responses:
        raise AssertionError(f"{method} {template}: status {status} is not documented")
    content = responses[str(status)].get("content")
    if not content:
        return None
    schema = to_json_schema(content["application/json"]["schema"])
    root = {**schema, "components": _components(spec)}
    return jsonschema.Draft202012Validator(root, format_checker=FORMATS)
