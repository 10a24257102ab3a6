"""/docs and /redoc from the vendored Swagger UI and ReDoc files, so they work with no internet."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
VENDOR = "/static/vendor"
FAVICON = "/static/favicon.svg"


def _with_lang(page: HTMLResponse) -> HTMLResponse:
    # FastAPI's pages have no lang attribute; screen readers need one.
    return HTMLResponse(bytes(page.body).decode("utf-8").replace("<html>", '<html lang="en">', 1))


@router.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    """Swagger UI, self-hosted."""
    return _with_lang(get_swagger_ui_html(
        openapi_url=request.app.openapi_url, title=f"{request.app.title} — API docs",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js", swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url=FAVICON,
        # No online validator badge: it would call validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    ))


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc, self-hosted, without web fonts."""
    return _with_lang(get_redoc_html(
        openapi_url=request.app.openapi_url, title=f"{request.app.title} — API reference",
        redoc_js_url=f"{VENDOR}/redoc.standalone.js", redoc_favicon_url=FAVICON, with_google_fonts=False,
    ))
