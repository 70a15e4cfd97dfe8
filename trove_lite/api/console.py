"""The web console's static files (``trove_lite/api/console_static/``), served by the API at
``/console`` outside the auth middleware: they hold no data. The page reads
everything through the tenant's own ``/v1.0/{tenant}`` API with the user's token,
so it sees exactly what that tenant's API calls see.
"""

from importlib import resources
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIEnvironment

import webob

TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
# only our own files; no inline script, no other origin, no framing
HEADERS = [("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
           ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-cache")]


def _load() -> dict[str, tuple[str, bytes]]:
    files = {}
    for entry in resources.files("trove_lite.api").joinpath("console_static").iterdir():
        ext = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and ext in TYPES:
            files[entry.name] = (TYPES[ext], entry.read_bytes())
    return files


class Console:
    """``/console`` and ``/console/`` answer index.html, ``/console/<name>`` a file."""

    def __init__(self) -> None:
        self.files = _load()

    @staticmethod
    def handles(path: str) -> bool:
        return path == "/console" or path.startswith("/console/")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        name = environ.get("PATH_INFO", "")[len("/console/"):] or "index.html"
        found = self.files.get(name)
        response = webob.Response(headerlist=list(HEADERS))
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            response.status, response.text = 405, "GET or HEAD only"
            response.headers["Allow"] = "GET, HEAD"
        elif found is None:
            response.status, response.content_type, response.text = 404, "text/plain", \
                "no such console file"
        else:
            response.content_type, response.body = found
            if found[0].startswith("text/"):
                response.charset = "utf-8"
        return response(environ, start_response)
