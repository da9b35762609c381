"""flexrec: server-side dual-channel call recording for Twilio Flex."""

__version__ = "0.1.0"
