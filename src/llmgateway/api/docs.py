"""`/docs`: Swagger UI from files installed with the gateway, so it works on air-gapped machines.

FastAPI's default page loads Swagger UI from a CDN; this one serves the files shipped in
`llmgateway/docs_ui` (swagger-ui-dist, its version in VERSION) under `/docs/assets`. ReDoc,
CDN-only, is not served.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def install_docs(app: FastAPI) -> None:
    """Serve `/docs` (the app must be made with `docs_url=None, redoc_url=None`)."""

    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )

    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(packages=[("llmgateway", "docs_ui")]), name="docs-assets")
