"""The simulator's Twilio REST surface: Voice, TaskRouter, Flex, Event Streams and IAM paths."""

from flexsim.api.app import SERVED_ROUTES, SimCredentials, create_sim_app

__all__ = ["SERVED_ROUTES", "SimCredentials", "create_sim_app"]
