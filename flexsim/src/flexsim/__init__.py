"""A simulated Twilio Flex contact center that the official Twilio SDK can talk to."""
