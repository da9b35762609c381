"""Structured logging: JSON lines (console renderer on a TTY), bound SIDs, secrets redacted.

Every record, from structlog or from stdlib loggers (uvicorn, the Twilio SDK), goes through
`redact_secrets` last before rendering: values under secret-sounding keys are replaced, and
strings are scrubbed of credentials given to `configure_logging`, bearer/basic credentials,
JWT/JWE-looking tokens and `Token=`/`Signature=`-style fields.
"""

from __future__ import annotations

import functools
import linecache
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"

# Keys whose values are secrets whatever they look like.
_SECRET_KEY = re.compile(
    r"(auth[_-]?token|authorization|token|signature|secret|password|passwd|api[_-]?key|"
    r"cookie|credential)",
    re.IGNORECASE,
)
# Keys that contain "token" or "signature" but hold no secret.
_SAFE_KEYS = frozenset({"token_fingerprint", "token_valid", "signature_valid"})

_STRING_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    # JWT/JWE compact serialisations: base64url header starting with '{"' then dot-parts.
    (re.compile(r"\beyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){1,4}"), REDACTED),
    (
        re.compile(
            r"(?i)((?:x-twilio-signature|signature|token|auth_?token|authorization|secret|"
            r"password)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"
        ),
        r"\1" + REDACTED,
    ),
)

# What each of _STRING_PATTERNS needs to match: whitespace (bearer/basic), "eyJ" (a JWT) or a
# ":"/"=" (key-value). Most logged strings (SIDs, statuses, numbers) have none: one search
# spares them the three substitutions, a third of a log line's CPU.
_MAY_MATCH = re.compile(r"[\s:=]|eyJ")

_known_secrets: list[str] = []


def register_secrets(values: Iterable[str]) -> None:
    """Add exact secret values (auth token, admin token...) that must never be printed."""
    for value in values:
        # Very short values would blank out ordinary words.
        if value and len(value) >= 6 and value not in _known_secrets:
            _known_secrets.append(value)
    _known_secrets.sort(key=len, reverse=True)


def _scrub_string(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if _MAY_MATCH.search(text) is None:
        return text
    for pattern, replacement in _STRING_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and _is_secret_name(key)


@functools.lru_cache(maxsize=1024)
def _is_secret_name(key: str) -> bool:
    # Keys are a few dozen names, asked about on every log line.
    return key.lower() not in _SAFE_KEYS and bool(_SECRET_KEY.search(key))


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return value
    if isinstance(value, str):
        return _scrub_string(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if _is_secret_key(k) else _scrub(v, depth + 1)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return _scrub_string(value.decode("utf-8", "replace"))
    return value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor replacing anything that looks like a secret."""
    for key in list(event_dict):
        if _is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def format_exc_info(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """structlog's `format_exc_info`, then Python's source-line cache emptied when it rendered
    a traceback.

    A traceback's lines come from `linecache`, which keeps every source file it read, whole,
    for the life of the process: a few logged exceptions kept ~2 MB of source in a service that
    otherwise stays flat (bench/results/issue18.md, "wave, session 9"). Exceptions are rare and
    a traceback reads its files again when it needs them.
    """
    had_exc_info = "exc_info" in event_dict
    event_dict = structlog.processors.format_exc_info(logger, method, event_dict)
    if had_exc_info and "exception" in event_dict:
        linecache.clearcache()
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]


def configure_logging(
    level: str = "INFO",
    *,
    json_output: bool | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging to `stream` (stderr) through the redaction processor.

    `json_output=None` picks JSON unless the stream is a TTY.
    """
    register_secrets(secrets)
    out = stream if stream is not None else sys.stderr
    if json_output is None:
        json_output = not (hasattr(out, "isatty") and out.isatty())
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared = _shared_processors()
    structlog.configure(
        processors=[
            *shared,
            format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_flexrec", False):
            root.removeHandler(old)
    handler._flexrec = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn installs its own handlers; send its records through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True


def get_logger(name: str) -> Any:
    """A structlog logger bound to `name`."""
    return structlog.stdlib.get_logger(name)


@contextmanager
def bound_sids(**sids: str | None) -> Iterator[None]:
    """Bind task/call/recording SIDs to every log line inside the block (None values skipped)."""
    present = {k: v for k, v in sids.items() if v}
    if not present:
        yield
        return
    # Tokens put back exactly what was bound before; structlog's `bound_contextvars` copies
    # every bound variable to do the same, a twentieth of a webhook's time on the event loop.
    tokens = structlog.contextvars.bind_contextvars(**present)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
