"""A client of the DataHub third-party API: token exchange (cached, renewed on 401),
authorised metering points and time series, with bounded retries on 429 and 503."""

import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from origin.client import http
from origin.datahub import COPENHAGEN, timeseries

METERS_PER_CALL = 10  # the API's limit on metering points per time-series call
RETRIES = 5
BACKOFF_S = 0.5


class DataHubError(Exception):
    pass


def danish_days(begin_s: int, end_s: int) -> tuple[date, date]:
    """dateFrom and dateTo (exclusive, so one day more) covering [begin_s, end_s)."""

    def local(seconds: int) -> date:
        return datetime.fromtimestamp(seconds, UTC).astimezone(COPENHAGEN).date()

    return local(begin_s), local(end_s - 1) + timedelta(days=1)


class DataHubClient:
    def __init__(self, base_url: str, refresh_token: str,
                 request: Callable[..., tuple[int, bytes]] = http, sleep=time.sleep):  # fmt: skip
        self.base_url, self.refresh_token = base_url.rstrip("/"), refresh_token
        self._request, self._sleep = request, sleep
        self._access: str | None = None

    def _send(self, method: str, path: str, data: bytes | None, token: str) -> tuple[int, bytes]:
        """One request, retried with backoff while the DataHub answers 429 or 503."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "api-version": "1.0"}
        for attempt in range(RETRIES):
            status, answer = self._request(method, self.base_url + path, data, headers=headers)
            if status not in (429, 503):
                return status, answer
            self._sleep(BACKOFF_S * 2**attempt)
        raise DataHubError(f"{method} {path}: still refused after {RETRIES} tries")

    def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        for renewed in (False, True):
            if self._access is None:
                status, answer = self._send("GET", "/api/token", None, self.refresh_token)
                if status != 200:
                    raise DataHubError(f"token exchange refused: HTTP {status}")
                self._access = json.loads(answer)["result"]
            status, answer = self._send(method, path, data, self._access)
            if status == 401 and not renewed:  # the access token expired: renew it once
                self._access = None
                continue
            if status != 200:
                raise DataHubError(f"{method} {path}: HTTP {status}: {answer[:200]!r}")
            return json.loads(answer)
        raise DataHubError(f"{method} {path}: refused even with a new token")

    def metering_points(self, scope: str, identifier: str) -> list[dict]:
        return list(
            self._call("GET", f"/api/authorization/authorization/meteringpoints/{scope}/{identifier}")["result"]
        )

    def timeseries(
        self, gsrns: list[str], begin_s: int, end_s: int
    ) -> tuple[list[timeseries.Reading], list[timeseries.ItemError]]:
        """Readings of [begin_s, end_s) for the meters, and the errors of those that failed."""
        first, last = danish_days(begin_s, end_s)
        readings: list[timeseries.Reading] = []
        errors: list[timeseries.ItemError] = []
        for i in range(0, len(gsrns), METERS_PER_CALL):
            body = {"meteringPoints": {"meteringPoint": gsrns[i : i + METERS_PER_CALL]}}
            answer = self._call("POST", f"/api/meterdata/gettimeseries/{first}/{last}/Actual", body)
            got, failed = timeseries.parse(answer)
            readings.extend(r for r in got if begin_s <= r.begin_s and r.end_s <= end_s)
            errors.extend(failed)
        return readings, errors
