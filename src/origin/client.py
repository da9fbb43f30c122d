"""A minimal HTTP client on the standard library, for talking to Origin's own services."""

import urllib.error
import urllib.request
from http.client import HTTPException


def http(method: str, url: str, body: bytes | None = None, timeout: float = 35.0,
         headers: dict | None = None) -> tuple[int, bytes]:  # fmt: skip
    """(status, body) of one request; OSError if the server cannot be reached or its answer
    breaks off (a server killed mid-answer is the same failure to every caller)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http and https URLs are fetched, not {url[:60]!r}")
    request = urllib.request.Request(  # noqa: S310 (http(s) only, above)
        url, data=body, method=method, headers=headers or {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only, above)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except HTTPException as exc:  # IncompleteRead and the like are not OSErrors
        raise ConnectionError(f"{method} {url}: the answer broke off: {exc!r}") from exc
