"""Twilio in: signature verification and parsing of every callback into domain events."""
