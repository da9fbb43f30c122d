"""A minimal HTTP client on the standard library, for talking to Origin's own services."""

import urllib.error
import urllib.request


def http(method: str, url: str, body: bytes | None = None, timeout: float = 35.0,
         headers: dict | None = None) -> tuple[int, bytes]:  # fmt: skip
    """(status, body) of one request; OSError if the server cannot be reached."""
    request = urllib.request.Request(url, data=body, method=method,
                                     headers=headers or {"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
