"""The composition root: the one package that knows every room and builds the running service.

`services.build_services(settings)` makes the long-lived objects (database, SDK client and
gateway, queue, recording service, archive and its jobs, token validator, change feed);
`factory.create_app(settings)` mounts both front ends (`flexrec.server`'s routes, the console)
on one app. Everything below imports nothing from here; `flexrec.cli` (and the tests) call it.
"""
