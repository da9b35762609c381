"""The service's HTTP layer: `create_app(settings)` with webhook, agent and admin routes."""
