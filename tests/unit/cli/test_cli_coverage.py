"""`flexrec coverage`: a bad period or missing credentials is one line and exit 2."""

from __future__ import annotations

import sys

import pytest

from flexrec.cli import root as cli


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["flexrec", *argv])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    code = ended.value.code
    return code if isinstance(code, int) else 0


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--since", "2026-02-30"), "--since '2026-02-30' is not a date or time: use YYYY-MM-DD"),
        (("--since", "3 March"), "or an ISO 8601 time such as 2026-03-03T09:00Z"),
        (("--since", "2026-03-04", "--until", "2026-03-03"), "is not after --since"),
        (("--since", "2026-03-03", "--until", "2027-03-03"), "at most 93 days"),
    ],
)
def test_a_bad_period_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
    says: str,
) -> None:  # fmt: skip
    assert run_cli(monkeypatch, "coverage", *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("flexrec: error: ") and says in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_without_credentials_it_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.setenv("FLEXREC_DATA_DIR", str(tmp_path))
    assert run_cli(monkeypatch, "coverage", "--since", "2026-03-03") == 2
    err = capsys.readouterr().err
    assert "set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in err and err.count("\n") == 1
