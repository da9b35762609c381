"""The durable job queue (huey) and its periodic jobs."""
