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
