"""Fixtures for archive unit tests: a throwaway SQLite database, a fake Twilio, a clock."""

from archive_fixtures import clock, make_service, sessions, store, twilio

__all__ = ["clock", "make_service", "sessions", "store", "twilio"]
