"""What a person opens first: `/` leads to the console; `/docs` (Swagger UI) and `/redoc`.

The API pages are served from the package, so they work offline and under a strict CSP.

FastAPI's own pages load their scripts from a CDN and start them with an inline script, so on a
host with no internet access, or under a `script-src 'self'` policy, they show a blank page.
Here the assets are vendored (`static/docs`, fetched by scripts/fetch-web-assets.sh) and each
page starts its viewer from a same-origin script file.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static" / "docs"
ASSETS = "/_docs-assets"

# Same rules as the console's pages; Swagger UI and Redoc style elements inline, and Redoc's
# search runs in a worker it builds from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>{head}</head>
<body>{body}<script src="{assets}/{script}"></script>{start}</body></html>
"""

_SWAGGER_START = """window.ui = SwaggerUIBundle({
  url: "%(openapi)s",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
"""

_REDOC_START = """Redoc.init("%(openapi)s", {}, document.getElementById("redoc"));
"""


def _page(title: str, head: str, body: str, script: str, start: str) -> HTMLResponse:
    html = _PAGE.format(
        title=title,
        head=head,
        body=body,
        assets=ASSETS,
        script=script,
        start=f'<script src="{ASSETS}/{start}"></script>',
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})


def add_docs_pages(app: FastAPI, console_path: str = "/console/") -> None:
    """Mount `/`, `/docs`, `/redoc` and their assets; build the app with `docs_url=None`."""
    openapi = app.openapi_url or "/openapi.json"
    title = f"{app.title} API"

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(console_path, status_code=307)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _page(
            title,
            f'<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">',
            '<div id="swagger-ui"></div>',
            "swagger-ui-bundle.js",
            "swagger-start.js",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _page(title, "", '<div id="redoc"></div>', "redoc.standalone.js", "redoc-start.js")

    @app.get(f"{ASSETS}/swagger-start.js", include_in_schema=False)
    def swagger_start() -> Response:
        return Response(_SWAGGER_START % {"openapi": openapi}, media_type="text/javascript")

    @app.get(f"{ASSETS}/redoc-start.js", include_in_schema=False)
    def redoc_start() -> Response:
        return Response(_REDOC_START % {"openapi": openapi}, media_type="text/javascript")

    app.mount(ASSETS, StaticFiles(directory=STATIC_DIR), name="docs-assets")
