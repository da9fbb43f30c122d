"""A minimal HTTP client on the standard library, for talking to Origin's own services."""

import urllib.error
import urllib.request
from http.client import HTTPException
from typing import Any


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx comes back as the answer


_NOT_FOLLOWING = urllib.request.build_opener(_NoRedirects)


def http(method: str, url: str, body: bytes | None = None, timeout: float = 35.0,
         headers: dict[str, str] | None = None, follow_redirects: bool = True) -> tuple[int, bytes]:  # fmt: skip
    """(status, body) of one request; OSError if the server cannot be reached or its answer
    breaks off (a server killed mid-answer is the same failure to every caller). With
    `follow_redirects` off, a 3xx is the answer."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http and https URLs are fetched, not {url[:60]!r}")
    request = urllib.request.Request(  # noqa: S310 (http(s) only, above)
        url, data=body, method=method, headers=headers or {"Content-Type": "application/json"}
    )
    try:
        opener = urllib.request.urlopen if follow_redirects else _NOT_FOLLOWING.open
        with opener(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except HTTPException as exc:  # IncompleteRead and the like are not OSErrors
        raise ConnectionError(f"{method} {url}: the answer broke off: {exc!r}") from exc
