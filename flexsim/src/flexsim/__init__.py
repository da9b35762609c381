"""A simulated Twilio Flex contact center that the official Twilio SDK can talk to."""

# The built-in scenarios register themselves with the engine on import (the engine knows none
# by name), so importing any part of flexsim makes them available.
import flexsim.scenarios  # noqa: F401
