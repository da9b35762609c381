"""The service's HTTP API: webhook, agent, admin, compliance, archive and health routes
(assembled with the console into one app by `flexrec.app.factory.create_app`)."""
