"""Parameter parsing, Twilio's date and page formats, and the task-attribute expressions."""

from __future__ import annotations

import pytest

from flexsim.api.formats import PageRequest, iso8601, meta_page, rfc2822, v2010_page
from flexsim.api.params import Params, is_sid
from flexsim.api.taskrouter_tasks import matches, parse_expression
from flexsim.api.voice_views import DateFilter
from flexsim.errors import TwilioApiError


def test_sids_need_prefix_and_32_hex_digits() -> None:
    assert is_sid("CA" + "a1" * 16, "CA")
    assert not is_sid("CA" + "a1" * 16, "RE")
    assert not is_sid("CA" + "g" * 32, "CA")
    assert not is_sid("CA123", "CA")


def test_repeated_values_are_kept_and_the_last_one_wins() -> None:
    params = Params([("Types", "a"), ("Types", "b"), ("Status", "x"), ("Status", "paused")])
    assert params.get_all("Types") == ["a", "b"]
    assert params.get("Status") == "paused"
    assert params.get("Missing") is None


@pytest.mark.parametrize(
    ("call", "value"),
    [
        (lambda p: p.enum("X", {"a", "b"}), "c"),
        (lambda p: p.boolean("X"), "yes"),
        (lambda p: p.integer("X", 1, 10, 5), "11"),
        (lambda p: p.integer("X", 1, 10, 5), "ten"),
        (lambda p: p.sid("X", "CA"), "CA1"),
        (lambda p: p.url("X"), "mailto:a@b"),
        (lambda p: p.url("X"), "https://"),
        (lambda p: p.json_object("X"), "[1, 2]"),
        (lambda p: p.json_object("X"), "{"),
    ],
)
def test_malformed_values_are_twilio_400s_naming_the_parameter(call: object, value: str) -> None:
    with pytest.raises(TwilioApiError) as raised:
        call(Params([("X", value)]))  # type: ignore[operator]
    assert (raised.value.status, raised.value.code) == (400, 20001)
    assert "X" in raised.value.message


def test_well_formed_values_and_defaults() -> None:
    params = Params([("B", "True"), ("N", "7"), ("J", '{"a": 1}'), ("U", "http://h/x")])
    assert params.boolean("B") is True
    assert params.integer("N", 1, 10, 5) == 7
    assert params.integer("Absent", 1, 10, 5) == 5
    assert params.json_object("J") == {"a": 1}
    assert params.url("U") == "http://h/x"
    assert params.enum("Absent", {"a"}, "a") == "a"
    assert Params([("PageSize", "20"), ("Page", "3")]).page() == PageRequest(page=3, page_size=20)


def test_twilio_date_formats() -> None:
    assert rfc2822(0) == "Thu, 01 Jan 1970 00:00:00 +0000"
    assert rfc2822(1_795_000_005.9) == "Wed, 18 Nov 2026 11:06:45 +0000"
    assert iso8601(1_795_000_005) == "2026-11-18T11:06:45Z"
    assert rfc2822(None) is None and iso8601(None) is None


def test_v2010_page_links_carry_filters_and_stop_at_the_end() -> None:
    request = PageRequest(page=1, page_size=2)
    chunk, more = request.slice(["a", "b", "c", "d", "e"])
    assert (chunk, more) == (["c", "d"], True)
    body = v2010_page(
        "calls", [{"sid": c} for c in chunk], "/p.json", [("To", "+1")], request, more
    )
    assert body["first_page_uri"] == "/p.json?To=%2B1&PageSize=2&Page=0"
    assert body["next_page_uri"] == "/p.json?To=%2B1&PageSize=2&Page=2&PageToken=PA4"
    assert body["previous_page_uri"] == "/p.json?To=%2B1&PageSize=2&Page=0&PageToken=PA0"
    assert (body["start"], body["end"], body["page"]) == (2, 3, 1)
    last = PageRequest(page=2, page_size=2)
    assert last.slice(["a", "b", "c", "d", "e"]) == (["e"], False)


def test_meta_page_links_are_absolute() -> None:
    body = meta_page("tasks", [], "https://h/v1/T", [], PageRequest(), False)
    assert body["meta"]["first_page_url"] == "https://h/v1/T?PageSize=50&Page=0"
    assert body["meta"]["next_page_url"] is None
    assert body["meta"]["key"] == "tasks"


def test_date_filters_take_days_and_instants() -> None:
    day = 1_795_000_005 - 1_795_000_005 % 86400  # 2026-11-18 00:00 UTC
    on_day = DateFilter("D", {"D": "2026-11-18T00:00:00Z"})
    assert on_day.accepts(day) and on_day.accepts(day + 86399) and not on_day.accepts(day + 86400)
    before = DateFilter("D", {"D<": "2026-11-18"})
    assert before.accepts(day + 100) and not before.accepts(day + 86400)
    after = DateFilter("D", {"D>": "2026-11-18T12:00:00Z"})
    assert after.accepts(day + 43200) and not after.accepts(day + 43199)
    assert not DateFilter("D", {"D": "2026-11-18"}).accepts(None)
    assert DateFilter("D", {}).accepts(None)
    with pytest.raises(TwilioApiError):
        DateFilter("D", {"D": "18/11/2026"})


def test_date_filter_from_params_reads_the_three_variants_only() -> None:
    asked: list[str] = []
    params = {"D<": "2026-11-18", "Other": "2026-01-01"}

    def lookup(name: str) -> str | None:
        asked.append(name)
        return params.get(name)

    window = DateFilter.from_params("D", lookup)
    assert sorted(asked) == ["D", "D<", "D>"]
    day = 1_795_000_005 - 1_795_000_005 % 86400  # 2026-11-18 00:00 UTC
    assert window.accepts(day + 100) and not window.accepts(day + 86400)


def test_attribute_expressions() -> None:
    attributes = {"call_sid": "CA1", "conference": {"sid": "CF1"}, "n": 2, "vip": True}
    assert matches(attributes, parse_expression("call_sid == 'CA1'"))
    assert matches(attributes, parse_expression('conference.sid == "CF1" and n == 2'))
    assert matches(attributes, parse_expression("vip == true AND missing != 'x'"))
    assert not matches(attributes, parse_expression("n == 3"))
    assert not matches(attributes, parse_expression("conference.sid != 'CF1'"))
    for unsupported in ("call_sid IN ['CA1']", "call_sid", "a == 'b' OR c == 'd'", ""):
        with pytest.raises(TwilioApiError):
            parse_expression(unsupported)
