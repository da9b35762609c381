"""JSON from outside (webhooks, task attributes) read so that nothing downstream can break on it.

`loads_bounded` refuses what no real payload holds and what would break later instead of now:
nesting deeper than `MAX_DEPTH` (1,500 levels raise RecursionError in the parser itself, a few
hundred in any recursive merge), and `NaN`/`Infinity`/numbers too large for a float (neither
PostgreSQL's json nor a strict reader accepts them). NUL characters inside strings (PostgreSQL
text cannot hold them) become U+FFFD, so the rest of the document is kept.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 100  # Flex attributes nest a handful of levels; CRM payloads a few more


class UnsafeJson(ValueError):
    """JSON that is not valid, nests too deep or holds numbers no reader can keep."""


def _refuse_constant(name: str) -> Any:
    raise UnsafeJson(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJson(f"number {text[:20]}… does not fit a float")
    return value


def loads_bounded(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON, refusing (UnsafeJson) deep nesting and non-finite numbers; NULs replaced."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise UnsafeJson("JSON nested too deep") from None
    except UnicodeDecodeError as exc:
        raise UnsafeJson("JSON is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise UnsafeJson(f"not JSON: {exc.msg}") from exc
    return _checked(value, max_depth)


def _checked(value: Any, max_depth: int) -> Any:
    # Iterative, so the check itself can never run out of stack.
    root = [value]
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise UnsafeJson(f"JSON nested deeper than {max_depth} levels")
        if isinstance(node, dict):
            for key in list(node):
                item = node[key]
                if isinstance(key, str) and "\x00" in key:
                    del node[key]
                    key = key.replace("\x00", "\ufffd")
                    node[key] = item
                if isinstance(item, str):
                    if "\x00" in item:
                        node[key] = item.replace("\x00", "\ufffd")
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    if "\x00" in item:
                        node[index] = item.replace("\x00", "\ufffd")
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
    return root[0]
