"""Reading Twilio request parameters (query string or form body) with Twilio's 400s."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Any
from urllib.parse import urlsplit

from flexsim.api.formats import PageRequest
from flexsim.errors import invalid_parameter

_SID_BODY = re.compile(r"[0-9a-fA-F]{32}")


def is_sid(value: str, prefix: str) -> bool:
    """Whether `value` is a SID with this two-letter prefix (`CA` + 32 hex digits)."""
    return len(value) == 34 and value.startswith(prefix) and bool(_SID_BODY.fullmatch(value, 2))


class Params:
    """Request parameters by name; repeated names keep every value, in order."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def get(self, name: str) -> str | None:
        """The last value given for `name` (None when absent)."""
        values = self._values.get(name)
        return values[-1] if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value given for `name`."""
        return list(self._values.get(name, ()))

    def require(self, name: str) -> str:
        """The value of a required parameter."""
        value = self.get(name)
        if value is None or value == "":
            raise invalid_parameter(name, "required")
        return value

    def enum(self, name: str, allowed: Collection[str], default: str | None = None) -> str | None:
        """A value that must be one of `allowed` (the default when absent)."""
        value = self.get(name)
        if value is None:
            return default
        if value not in allowed:
            raise invalid_parameter(name, f"must be one of {', '.join(sorted(allowed))}")
        return value

    def boolean(self, name: str) -> bool | None:
        """`true`/`false` (any case) or None when absent."""
        value = self.get(name)
        if value is None:
            return None
        lowered = value.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise invalid_parameter(name, "must be true or false")

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        """An integer within [low, high] (the default when absent)."""
        value = self.optional_integer(name, low, high)
        return default if value is None else value

    def optional_integer(self, name: str, low: int, high: int) -> int | None:
        """An integer within [low, high], or None when absent."""
        value = self.get(name)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise invalid_parameter(name, "must be an integer") from None
        if not low <= number <= high:
            raise invalid_parameter(name, f"must be between {low} and {high}")
        return number

    def sid(self, name: str, prefix: str) -> str | None:
        """A SID filter (None when absent)."""
        value = self.get(name)
        if value is None:
            return None
        if not is_sid(value, prefix):
            raise invalid_parameter(name, f"must be a {prefix} SID")
        return value

    def url(self, name: str) -> str | None:
        """An absolute http(s) URL (None when absent)."""
        value = self.get(name)
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid_parameter(name, "must be an absolute http(s) URL")
        return value

    def json_object(self, name: str) -> dict[str, Any] | None:
        """A parameter holding a JSON object (None when absent)."""
        value = self.get(name)
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            raise invalid_parameter(name, "must be a JSON object") from None
        if not isinstance(parsed, dict):
            raise invalid_parameter(name, "must be a JSON object")
        return parsed

    def page(self) -> PageRequest:
        """The requested page (PageToken is accepted and recomputed from Page)."""
        size = self.integer("PageSize", 1, 1000, 50)
        page = self.integer("Page", 0, 1_000_000, 0)
        return PageRequest(page=page, page_size=size)

    def filters(self, names: Iterable[str]) -> list[tuple[str, str]]:
        """The given filter parameters as pairs, for page links."""
        return [(name, value) for name in names for value in self._values.get(name, ())]
