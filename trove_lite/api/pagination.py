"""``limit``/``marker`` paging, as troveclient follows it.

The marker is the id of the last item of the previous page; the next page has
the items with greater ids. A ``next`` link is present exactly when more items
follow; troveclient takes ``marker`` from its query string.
"""

from urllib.parse import urlencode
from collections.abc import Mapping, Sequence
from typing import Any

from trove_lite.exceptions import BadRequest


def page_params(params: Mapping[str, Any], max_limit: int) -> tuple[int, str | None]:
    """(limit, marker) from a request's query parameters; 400 on a bad limit."""
    raw = params.get("limit")
    if raw in (None, "", "None"):
        limit = max_limit
    else:
        try:
            limit = int(raw)
        except ValueError:
            raise BadRequest(reason="limit must be an integer, got %r" % raw) from None
        if limit < 1:
            raise BadRequest(reason="limit must be at least 1, got %d" % limit)
    marker = params.get("marker") or None
    if marker == "None":  # troveclient formats an unset marker as the string None
        marker = None
    return min(limit, max_limit), marker


def next_links(collection_url: str, params: Mapping[str, Any], limit: int, items: Sequence[str],
               more: bool) -> list[dict[str, str]]:
    """``[{"rel": "next", "href": ...}]`` when ``more``, else ``[]``."""
    if not more or not items:
        return []
    query = {k: v for k, v in params.items() if k not in ("limit", "marker")}
    query["limit"] = limit
    query["marker"] = items[-1]
    return [{"rel": "next", "href": "%s?%s" % (collection_url, urlencode(query))}]
