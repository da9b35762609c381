"""The durable job queue (huey) and its periodic jobs."""

# First, before any module of the package imports huey: see huey_lean's docstring.
from flexrec.jobs import huey_lean as _huey_lean  # noqa: F401
