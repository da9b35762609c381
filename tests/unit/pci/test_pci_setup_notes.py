"""`flexrec setup` says whether spoken card data is checked and what happens to Twilio's copy."""

from __future__ import annotations

from flexrec.cli.setup import card_data_notes
from flexrec.config import CardDataSettings, Settings, StorageSettings


def test_setup_warns_that_twilio_keeps_the_unredacted_copy() -> None:
    off = card_data_notes(Settings())
    assert "not checked" in off[0]
    kept = card_data_notes(Settings(card_data=CardDataSettings(card_data=True)))
    assert any("unredacted copy" in line and "url_provider" in line for line in kept)
    deleted = card_data_notes(
        Settings(
            card_data=CardDataSettings(card_data=True),
            storage=StorageSettings(delete_from_twilio=True),
        )
    )
    assert any("deleted once the redacted one" in line for line in deleted)


def test_setup_names_the_webhook_host_and_warns_when_it_cannot_fire() -> None:
    hook = CardDataSettings(
        card_data_webhook_url="https://hooks.example.com/flexrec?token=abc",
        card_data_webhook_secret="w" * 40,
    )
    idle = card_data_notes(Settings(card_data=hook))
    assert any("hooks.example.com" in line and "never be called" in line for line in idle)
    on = card_data_notes(Settings(card_data=hook.model_copy(update={"card_data": True})))
    assert on[-1] == (
        "A signed notice of each call with card data silenced is posted to hooks.example.com."
    )
    assert not any("token=abc" in line or "w" * 40 in line for line in idle + on)
    assert not any("notice" in line for line in card_data_notes(Settings()))
