"""One finding per reading of card data: the number and the code read near it are one event,
named in the words a supervisor reads ("card number spoken while recording, agent X, 02:31-
02:44, silenced"); readings far apart stay apart."""

from __future__ import annotations

from flexrec.pci.detect import CARD_NUMBER, EXPIRY, SECURITY_CODE, Detection
from flexrec.pci.findings import describe, group_findings, mmss


def _d(kind: str, channel: int, start_s: float, end_s: float) -> Detection:
    return Detection(kind, channel, int(start_s * 1000), int(end_s * 1000), "luhn", 0)


def test_a_number_its_expiry_and_code_and_the_read_back_are_one_finding() -> None:
    found = group_findings(
        [
            _d(SECURITY_CODE, 1, 160, 162),  # out of order on purpose
            _d(CARD_NUMBER, 1, 151, 158),
            _d(EXPIRY, 1, 158.5, 159.5),
            _d(CARD_NUMBER, 2, 170, 176),  # the agent reads it back
            _d(CARD_NUMBER, 1, 600, 607),  # another card, minutes later
        ]
    )
    assert [(f.start_ms, f.end_ms) for f in found] == [(151_000, 176_000), (600_000, 607_000)]
    first = found[0]
    assert first.kinds == (CARD_NUMBER, EXPIRY, SECURITY_CODE)
    assert first.channels == (1, 2)
    public = first.public(["customer", "agent"])
    assert public["spoken_by"] == ["agent", "customer"]
    assert [d["role"] for d in public["detections"]] == [
        "customer",
        "customer",
        "customer",
        "agent",
    ]
    assert describe(first, "alice") == (
        "Card number spoken while recording, agent alice, 02:31\u201302:56, silenced"
    )
    assert (
        describe(found[1], None) == "Card number spoken while recording, 10:00\u201310:07, silenced"
    )


def test_extra_rules_come_after_the_card_kinds_and_times_read_as_minutes() -> None:
    (finding,) = group_findings([_d("national_id", 1, 5, 9), _d(SECURITY_CODE, 1, 10, 11)])
    assert finding.kinds == (SECURITY_CODE, "national_id")
    assert finding.headline == "security code"
    assert [mmss(0), mmss(59_999), mmss(61_000), mmss(6_000_000)] == [
        "00:00",
        "00:59",
        "01:01",
        "100:00",
    ]
    assert group_findings([]) == []
