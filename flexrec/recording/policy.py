"""Which calls are recorded, on which leg, from when: a TOML file plus environment overrides.

Example file::

    direction = "both"          # inbound | outbound | both
    leg = "customer"            # customer | worker
    start_on = "answer"         # answer (agent connected) | task (task created, inbound only)
    pause_behavior = "silence"  # skip | silence
    max_replacements = 3        # recordings started again on a live leg after one ended
                                # absent/failed (0: never); past it the leg is reported
    replacement_backoff_s = 2.0 # the first replacement starts at once, the second after this
                                # (seconds of the call), the third after 2.5 times it, then 4
    list_before_create = "auto" # auto: list a leg's recordings before creating only when one
                                # may exist (an earlier claim on the start, Studio's entry in
                                # the task's media); always: another recorder may start dual
                                # recordings on these legs without a trace in the task

    [include]                   # every non-empty category must match (any entry within it)
    queues = ["Sales", "WQ..."] # queue names or SIDs
    workflows = []              # workflow names or SIDs
    attributes = [{ path = "customer.tier", op = "eq", value = "gold" }]  # all must match

    [exclude]                   # any match excludes
    queues = ["Internal"]
    attributes = [{ path = "tags", op = "contains", value = "no-record" }]

Attribute conditions follow dot paths into the task attributes. Comparisons are typed: the
string "1" never equals the number 1 and `true` never equals 1 (the template compared strings).
When the value at the path is an array, `eq` and `contains` match if any element equals the value.
Operators: eq, ne, in, contains, exists, gt, ge, lt, le.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flexrec.config import PolicySettings

Direction = Literal["inbound", "outbound", "both"]
Leg = Literal["customer", "worker"]
StartOn = Literal["answer", "task"]
PauseBehavior = Literal["skip", "silence"]
ListBeforeCreate = Literal["auto", "always"]

# Past this, a leg whose recordings keep ending without media is a Twilio fault to look at.
MAX_REPLACEMENTS = 20
# Past this the fourth replacement would wait longer than the 10 s allowed between losing a
# recording and the next (4 x 2.5 s); kept loose for a demo's scaled clock (it divides it).
MAX_REPLACEMENT_BACKOFF_S = 2.5
OPERATORS = frozenset({"eq", "ne", "in", "contains", "exists", "gt", "ge", "lt", "le"})
_MISSING = object()


class PolicyError(ValueError):
    """The policy file is invalid."""


# The reason of a decision to record; any other reason names why a task is not recorded.
RECORDED = "recorded"


@dataclass(frozen=True)
class AttributeCondition:
    """One typed test on a task attribute reached by a dot path."""

    path: str
    op: str = "eq"
    value: Any = None

    def matches(self, attributes: Mapping[str, Any]) -> bool:
        """True when the attribute at `path` satisfies the condition."""
        found = lookup(attributes, self.path)
        if self.op == "exists":
            return (found is not _MISSING) == (self.value is not False)
        if found is _MISSING:
            return self.op == "ne"
        if self.op == "eq":
            return _equal_or_contains(found, self.value)
        if self.op == "ne":
            return not _equal_or_contains(found, self.value)
        if self.op == "contains":
            if isinstance(found, list):
                return any(typed_equal(item, self.value) for item in found)
            return isinstance(found, str) and isinstance(self.value, str) and self.value in found
        if self.op == "in":
            options = self.value if isinstance(self.value, list) else [self.value]
            return any(_equal_or_contains(found, option) for option in options)
        return _ordered(found, self.value, self.op)


@dataclass(frozen=True)
class Selector:
    """A set of queue, workflow and attribute criteria."""

    queues: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    attributes: tuple[AttributeCondition, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing is listed."""
        return not (self.queues or self.workflows or self.attributes)


@dataclass(frozen=True)
class TaskFacts:
    """What the policy looks at: the task's direction, queue, workflow and attributes."""

    direction: str | None
    queue_sid: str | None = None
    queue_name: str | None = None
    workflow_sid: str | None = None
    workflow_name: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The policy's answer, with a reason fit for logs and the admin API."""

    record: bool
    reason: str


@dataclass(frozen=True)
class RecordingPolicy:
    """The recording policy (defaults: both directions, customer leg, on answer, silence)."""

    direction: Direction = "both"
    leg: Leg = "customer"
    start_on: StartOn = "answer"
    pause_behavior: PauseBehavior = "silence"
    max_replacements: int = 3
    replacement_backoff_s: float = 2.0
    list_before_create: ListBeforeCreate = "auto"
    include: Selector = Selector()
    exclude: Selector = Selector()

    def decide(self, facts: TaskFacts) -> Decision:
        """Whether a task's call is recorded."""
        direction = facts.direction or "inbound"
        if self.direction != "both" and direction != self.direction:
            return Decision(False, f"direction {direction} not recorded")
        if self.exclude.queues and _named(facts.queue_sid, facts.queue_name, self.exclude.queues):
            return Decision(False, "queue excluded")
        if self.exclude.workflows and _named(
            facts.workflow_sid, facts.workflow_name, self.exclude.workflows
        ):
            return Decision(False, "workflow excluded")
        for condition in self.exclude.attributes:
            if condition.matches(facts.attributes):
                return Decision(False, f"attribute {condition.path} excluded")
        if self.include.queues and not _named(
            facts.queue_sid, facts.queue_name, self.include.queues
        ):
            return Decision(False, "queue not included")
        if self.include.workflows and not _named(
            facts.workflow_sid, facts.workflow_name, self.include.workflows
        ):
            return Decision(False, "workflow not included")
        for condition in self.include.attributes:
            if not condition.matches(facts.attributes):
                return Decision(False, f"attribute {condition.path} not included")
        return Decision(True, RECORDED)


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dot path, or a private sentinel when any step is missing."""
    current: Any = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def typed_equal(a: Any, b: Any) -> bool:
    """Equality that never coerces: bool is not int, str is not number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def _equal_or_contains(found: Any, value: Any) -> bool:
    if isinstance(found, list) and not isinstance(value, list):
        return any(typed_equal(item, value) for item in found)
    return typed_equal(found, value)


def _ordered(found: Any, value: Any, op: str) -> bool:
    numbers = (int, float)
    if isinstance(found, bool) or isinstance(value, bool):
        return False
    comparable = (isinstance(found, numbers) and isinstance(value, numbers)) or (
        isinstance(found, str) and isinstance(value, str)
    )
    if not comparable:
        return False
    if op == "gt":
        return bool(found > value)
    if op == "ge":
        return bool(found >= value)
    if op == "lt":
        return bool(found < value)
    return bool(found <= value)


def _named(sid: str | None, name: str | None, wanted: Sequence[str]) -> bool:
    return any(w == sid or w == name for w in wanted if w)


def _selector(raw: Any, where: str) -> Selector:
    if raw is None:
        return Selector()
    if not isinstance(raw, dict):
        raise PolicyError(f"[{where}] must be a table")
    unknown = set(raw) - {"queues", "workflows", "attributes"}
    if unknown:
        raise PolicyError(f"[{where}] has unknown keys {sorted(unknown)}")
    conditions: list[AttributeCondition] = []
    for item in raw.get("attributes", []):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise PolicyError(f"[{where}].attributes entries need a string path")
        op = item.get("op", "eq")
        if op not in OPERATORS:
            raise PolicyError(f"[{where}].attributes op {op!r} is not one of {sorted(OPERATORS)}")
        conditions.append(AttributeCondition(item["path"], op, item.get("value")))
    return Selector(
        queues=tuple(str(q) for q in raw.get("queues", [])),
        workflows=tuple(str(w) for w in raw.get("workflows", [])),
        attributes=tuple(conditions),
    )


_CHOICES: dict[str, tuple[str, ...]] = {
    "direction": ("inbound", "outbound", "both"),
    "leg": ("customer", "worker"),
    "start_on": ("answer", "task"),
    "pause_behavior": ("skip", "silence"),
    "list_before_create": ("auto", "always"),
}


_NUMBERS = ("max_replacements", "replacement_backoff_s")


def policy_from_mapping(raw: Mapping[str, Any]) -> RecordingPolicy:
    """Build a policy from parsed TOML (or any mapping of the same shape)."""
    # [retention] lives in the same file; flexrec.archive.retention reads and checks it.
    unknown = set(raw) - {*_CHOICES, "include", "exclude", "retention", *_NUMBERS}
    if unknown:
        raise PolicyError(f"unknown policy keys {sorted(unknown)}")
    scalars: dict[str, Any] = {}
    if "max_replacements" in raw:
        cap = raw["max_replacements"]
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_REPLACEMENTS:
            raise PolicyError(
                f"max_replacements must be a whole number from 0 to {MAX_REPLACEMENTS}"
            )
        scalars["max_replacements"] = cap
    if "replacement_backoff_s" in raw:
        backoff = raw["replacement_backoff_s"]
        if (
            isinstance(backoff, bool)
            or not isinstance(backoff, int | float)
            or not 0 <= backoff <= MAX_REPLACEMENT_BACKOFF_S
        ):
            raise PolicyError(
                f"replacement_backoff_s must be a number of seconds from 0 to "
                f"{MAX_REPLACEMENT_BACKOFF_S:g}"
            )
        scalars["replacement_backoff_s"] = float(backoff)
    for key, choices in _CHOICES.items():
        if key in raw:
            if raw[key] not in choices:
                raise PolicyError(f"{key} must be one of {choices}")
            scalars[key] = raw[key]
    return RecordingPolicy(
        **scalars,
        include=_selector(raw.get("include"), "include"),
        exclude=_selector(raw.get("exclude"), "exclude"),
    )


def load_policy(settings: PolicySettings) -> RecordingPolicy:
    """Read the policy file named in settings (if any) and apply the environment overrides."""
    raw: dict[str, Any] = {}
    if settings.policy_file is not None:
        path = Path(settings.policy_file)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc}") from exc
    for key in (*_CHOICES, *_NUMBERS):
        override = getattr(settings, key)
        if override is not None:
            raw[key] = override
    return policy_from_mapping(raw)
