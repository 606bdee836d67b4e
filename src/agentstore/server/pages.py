"""The web timeline: the page at ``/`` and ``/sessions/ID``, and its static files.

The page is hand-written HTML, CSS and JavaScript modules shipped in the package
(``agentstore/server/ui/``), read once and served from memory. It holds nothing stored:
every figure it shows it reads from the ``/v1`` API with the user's token, so its routes
need none (:mod:`agentstore.server.security` lets exactly these paths through). Every
response carries a strict Content-Security-Policy (scripts, styles and requests of this
server only, no inline script or style), ``nosniff`` and an ETag: a browser revalidates
each file and is answered 304 until the package changes.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from importlib import resources

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["CONTENT_SECURITY_POLICY", "ROUTES", "asset_names"]

#: What the page may load and run: its own files and the API of the server that served it.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_INDEX = "index.html"
_ROOT_MARK = "__AGENTSTORE_ROOT__"  # where index.html names the path the server is mounted at


@dataclass(frozen=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


def _load() -> dict[str, _Asset]:
    folder = resources.files("agentstore.server") / "ui"
    assets = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            body = entry.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:20]
            assets[entry.name] = _Asset(body, _TYPES[suffix], f'"{digest}"')
    return assets


_ASSETS = _load()
_RAW_INDEX = _ASSETS[_INDEX].body  # names the mount path with _ROOT_MARK
_ASSETS[_INDEX] = _Asset(
    _RAW_INDEX.replace(_ROOT_MARK.encode(), b""), _ASSETS[_INDEX].media_type, _ASSETS[_INDEX].etag
)


def asset_names() -> list[str]:
    """The files the page is made of (``index.html`` among them), sorted."""
    return sorted(_ASSETS)


def _headers(asset: _Asset) -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",  # kept, but checked with its ETag at every load
        "ETag": asset.etag,
    }


def _answer(request: Request, asset: _Asset) -> Response:
    headers = _headers(asset)
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


async def page(request: Request) -> Response:
    """The page itself, for the list and for every session: it routes on the client."""
    index = _ASSETS[_INDEX]
    root = request.scope.get("root_path", "").rstrip("/")
    if not root:
        return _answer(request, index)
    body = _RAW_INDEX.replace(b'="/assets/', f'="{html.escape(root)}/assets/'.encode())
    body = body.replace(_ROOT_MARK.encode(), html.escape(root).encode())
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return _answer(request, _Asset(body, index.media_type, etag))


async def asset(request: Request) -> Response:
    """One file of the page: a script module, the style sheet, the icon."""
    name = request.path_params["name"]
    found = _ASSETS.get(name)
    if found is None or name == _INDEX:
        raise HTTPException(404)
    return _answer(request, found)


ROUTES = [
    Route("/", page, methods=["GET"], name="page"),
    Route("/sessions/{session_id}", page, methods=["GET"], name="session_page"),
    Route("/assets/{name}", asset, methods=["GET"], name="asset"),
]
