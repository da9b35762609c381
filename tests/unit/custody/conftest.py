"""Custody works on archived recordings: the archive's fixtures (SQLite, a fake Twilio, a clock)."""

from archive_fixtures import clock, make_service, sessions, store, twilio

__all__ = ["clock", "make_service", "sessions", "store", "twilio"]
