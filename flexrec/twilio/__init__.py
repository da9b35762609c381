"""The gateway out to Twilio: SDK client factory, narrow protocols and their one implementation."""
