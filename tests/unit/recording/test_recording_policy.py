"""Policy parsing and matching: typed comparisons, include/exclude, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from flexrec.config import PolicySettings
from flexrec.recording.policy import (
    AttributeCondition,
    PolicyError,
    RecordingPolicy,
    Selector,
    TaskFacts,
    load_policy,
    policy_from_mapping,
)

Q = "WQ" + "a" * 32


def facts(**attrs: object) -> TaskFacts:
    return TaskFacts("inbound", Q, "Sales", None, "Main", attributes=attrs)


def test_defaults() -> None:
    policy = RecordingPolicy()
    assert (policy.direction, policy.leg, policy.start_on, policy.pause_behavior) == (
        "both", "customer", "answer", "silence")  # fmt: skip
    assert policy.decide(facts()).record


@pytest.mark.parametrize(
    ("condition", "attrs", "expected"),
    [
        (AttributeCondition("vip", "eq", True), {"vip": True}, True),
        (AttributeCondition("vip", "eq", True), {"vip": "true"}, False),  # no string coercion
        (AttributeCondition("vip", "eq", True), {"vip": 1}, False),  # bool is not int
        (AttributeCondition("tier", "eq", 1), {"tier": "1"}, False),
        (AttributeCondition("tier", "eq", 1), {"tier": 1.0}, True),
        (AttributeCondition("customer.tier", "eq", "gold"), {"customer": {"tier": "gold"}}, True),
        (AttributeCondition("tags", "contains", "no-record"), {"tags": ["a", "no-record"]}, True),
        (AttributeCondition("tags", "eq", "b"), {"tags": ["a", "b"]}, True),
        (AttributeCondition("tags", "contains", "x"), {"tags": ["a"]}, False),
        (AttributeCondition("age", "gt", 10), {"age": 11}, True),
        (AttributeCondition("age", "gt", 10), {"age": "11"}, False),
        (AttributeCondition("missing", "exists", True), {}, False),
        (AttributeCondition("here", "exists", True), {"here": None}, True),
        (AttributeCondition("lang", "in", ["en", "fr"]), {"lang": "fr"}, True),
        (AttributeCondition("lang", "ne", "en"), {}, True),
    ],
)
def test_attribute_conditions_are_typed(
    condition: AttributeCondition, attrs: dict, expected: bool
) -> None:
    assert condition.matches(attrs) is expected


def test_include_and_exclude() -> None:
    include = RecordingPolicy(include=Selector(queues=("Sales",)))
    assert include.decide(facts()).record
    assert not include.decide(TaskFacts("inbound", "WQother", "Support")).record
    by_sid = RecordingPolicy(exclude=Selector(queues=(Q,)))
    assert by_sid.decide(facts()).reason == "queue excluded"
    by_attr = RecordingPolicy(
        exclude=Selector(attributes=(AttributeCondition("optout", "eq", True),))
    )
    assert not by_attr.decide(facts(optout=True)).record
    assert by_attr.decide(facts(optout="true")).record
    assert not RecordingPolicy(direction="outbound").decide(facts()).record


def test_toml_file_and_env_overrides(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        'direction = "inbound"\nleg = "worker"\n[exclude]\nqueues = ["Internal"]\n'
        '[include]\nattributes = [{ path = "customer.tier", op = "eq", value = "gold" }]\n'
    )
    policy = load_policy(PolicySettings(policy_file=path, pause_behavior="skip"))
    assert (policy.direction, policy.leg, policy.pause_behavior) == ("inbound", "worker", "skip")
    assert policy.exclude.queues == ("Internal",)
    assert policy.decide(facts(customer={"tier": "gold"})).record
    assert not policy.decide(facts(customer={"tier": "silver"})).record
    overridden = load_policy(PolicySettings(policy_file=path, direction="both"))
    assert overridden.direction == "both"


@pytest.mark.parametrize(
    "raw",
    [{"direction": "sideways"}, {"unknown": 1}, {"include": {"attributes": [{"op": "eq"}]}},
     {"exclude": {"attributes": [{"path": "a", "op": "like"}]}}],
)  # fmt: skip
def test_invalid_policies_are_rejected(raw: dict) -> None:
    with pytest.raises(PolicyError):
        policy_from_mapping(raw)


def test_replacement_cap_and_listing_come_from_the_file_or_the_environment(
    tmp_path: Path,
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('max_replacements = 5\nlist_before_create = "always"\n')
    policy = load_policy(PolicySettings(policy_file=path))
    assert (policy.max_replacements, policy.list_before_create) == (5, "always")
    assert load_policy(PolicySettings(policy_file=path, max_replacements=0)).max_replacements == 0
    assert RecordingPolicy().max_replacements == 3
    assert RecordingPolicy().list_before_create == "auto"


def test_the_replacement_backoff_comes_from_the_file_or_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("replacement_backoff_s = 1\n")
    assert load_policy(PolicySettings(policy_file=path)).replacement_backoff_s == 1.0
    env = PolicySettings(policy_file=path, replacement_backoff_s=0.2)
    assert load_policy(env).replacement_backoff_s == 0.2  # a x10 demo's clock: 2 s of call
    assert RecordingPolicy().replacement_backoff_s == 2.0  # 0, 2, 5, 8 s: inside 10 s


@pytest.mark.parametrize(
    "raw",
    [{"max_replacements": -1}, {"max_replacements": 21}, {"max_replacements": True},
     {"max_replacements": "3"}, {"list_before_create": "never"},
     {"replacement_backoff_s": -1}, {"replacement_backoff_s": 3}, {"replacement_backoff_s": "2"},
     {"replacement_backoff_s": True}],
)  # fmt: skip
def test_bad_replacement_settings_are_refused(raw: dict) -> None:
    with pytest.raises(PolicyError):
        policy_from_mapping(raw)
