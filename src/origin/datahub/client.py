"""A client of the DataHub third-party API (Eloverblik), as Energinet documents it
(shared/data/README.md): its base URL ends in `/thirdpartyapi`.

- The data access token is a JWT: cached until shortly before its `exp`, renewed once on a 401;
  kept in a private file too when the caller names one, so that the service's commands (each
  a process: sync, import, the scheduled import) share it rather than spend the API's two token
  calls a minute.
- The rate limits (2 token calls and 120 calls a minute) are kept by a limiter here, so the API
  need not refuse; a 429 or 503 nonetheless is waited out for the minute the API asks, a few
  times, then reported.
- Errors of the request as a whole come as HTTP 400 with a bare JSON string; they raise
  DataHubError with the API's code. Problems of one metering point are per-item errors,
  returned beside the other meters' readings, as is a meter whose answer cannot be read.
- `dateTo` is excluded and may be today at most (Danish dates): today's readings are asked for
  tomorrow.
"""

import base64
import json
import re
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from origin.client import http
from origin.datahub import COPENHAGEN, timeseries
from origin.folder import rewrite_private

METERS_PER_CALL = 10  # the API's limit on metering points per time-series and details call
TOKEN_CALLS_PER_MINUTE = 2
CALLS_PER_MINUTE = 120
RETRY_WAIT_S = 60.0  # Energinet: after a 429 or 503, wait one minute
RETRIES = 3
TOKEN_MARGIN_S = 300  # renew a token this long before its exp
_CODE = re.compile(r"#([0-9]{5})")

Request = Callable[..., tuple[int, bytes]]


class DataHubError(Exception):
    """The DataHub refused or could not answer; `code` is its error code when it gave one."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def danish_date(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).astimezone(COPENHAGEN).date()


def danish_days(begin_s: int, end_s: int, today: date | None = None) -> tuple[date, date] | None:
    """dateFrom and dateTo (excluded, so one day more) covering [begin_s, end_s), with dateTo
    at most `today`; None when nothing of the period may be asked for yet."""
    first, last = danish_date(begin_s), danish_date(end_s - 1) + timedelta(days=1)
    if today is not None:
        last = min(last, today)
    return (first, last) if first < last else None


class RateLimiter:
    """At most `per_minute` calls in any minute: a call that would break it waits."""

    def __init__(self, per_minute: int, clock: Callable[[], float], sleep: Callable[[float], None]):
        self.per_minute, self.clock, self.sleep = per_minute, clock, sleep
        self.calls: deque[float] = deque()

    def wait(self) -> None:
        while True:
            now = self.clock()
            while self.calls and self.calls[0] <= now - 60:
                self.calls.popleft()
            if len(self.calls) < self.per_minute:
                self.calls.append(now)
                return
            self.sleep(self.calls[0] + 60 - now)


def token_expiry(token: str) -> float:
    """The `exp` of a JWT (not verified: it is the DataHub's own, over TLS)."""
    try:
        payload = token.split(".")[1]
        return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        raise DataHubError("the data access token is not a JWT with an exp") from None


class DataHubClient:
    def __init__(self, base_url: str, refresh_token: str, request: Request = http,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 token_file: Path | None = None):  # fmt: skip
        self.base_url, self.refresh_token = base_url.rstrip("/"), refresh_token
        self._request, self._sleep, self._clock = request, sleep, clock
        self._token_file = token_file
        self._access: tuple[str, float] | None = None  # token, renew after
        self._token_limit = RateLimiter(TOKEN_CALLS_PER_MINUTE, clock, sleep)
        self._call_limit = RateLimiter(CALLS_PER_MINUTE, clock, sleep)

    def _send(self, method: str, path: str, data: bytes | None, token: str) -> tuple[int, bytes]:
        """One request within the rate limits; a 429 or 503 is waited out and asked again."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Accept": "application/json", "api-version": "1.0"}  # fmt: skip
        for _ in range(RETRIES + 1):
            self._call_limit.wait()
            status, answer = self._request(method, self.base_url + path, data, headers=headers)
            if status not in (429, 503):
                return status, answer
            self._sleep(RETRY_WAIT_S)
        raise DataHubError(f"{method} {path}: HTTP {status} still after {RETRIES} waits of {RETRY_WAIT_S:g} s")

    def _kept(self) -> tuple[str, float] | None:
        """The token another process of the service kept, if there is one."""
        try:
            token = self._token_file.read_text().strip() if self._token_file else ""
            return (token, token_expiry(token) - TOKEN_MARGIN_S) if token else None
        except (OSError, DataHubError):
            return None

    def _keep(self, token: str | None) -> None:
        """Keep the token for the service's other processes; None: the kept one is refused, drop it."""
        if self._token_file is None:
            return
        try:
            if token is None:
                self._token_file.unlink(missing_ok=True)
            else:
                rewrite_private(self._token_file, token)
        except OSError:  # another process wrote it at the same moment: its token serves as well
            pass

    def _token(self) -> str:
        if self._access is None or self._clock() >= self._access[1]:
            kept = self._kept()
            if kept is not None and self._clock() < kept[1]:
                self._access = kept
                return kept[0]
            self._token_limit.wait()
            status, answer = self._send("GET", "/api/token", None, self.refresh_token)
            if status != 200:
                raise DataHubError(f"the token exchange was refused: HTTP {status}: {answer[:200]!r}")
            token = json.loads(answer)["result"]
            self._access = (token, token_expiry(token) - TOKEN_MARGIN_S)
            self._keep(token)
        return self._access[0]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        for renewed in (False, True):
            status, answer = self._send(method, path, data, self._token())
            if status == 401 and not renewed:  # revoked or expired early: renew it once
                self._access = None
                self._keep(None)
                continue
            if status == 400:
                raise _refusal(method, path, answer)
            if status != 200:
                raise DataHubError(f"{method} {path}: HTTP {status}: {answer[:200]!r}")
            return json.loads(answer)
        raise DataHubError(f"{method} {path}: refused even with a new token")

    def authorizations(self) -> list[dict[str, Any]]:
        """The customers' active authorisations of this third party."""
        return list(self._call("GET", "/api/authorization/authorizations")["result"])

    def metering_points(self, scope: str, identifier: str) -> list[dict[str, Any]]:
        path = f"/api/authorization/authorization/meteringpoints/{scope}/{identifier}"
        return list(self._call("GET", path)["result"])

    def metering_point_ids(self, scope: str, identifier: str) -> list[str]:
        path = f"/api/authorization/authorization/meteringpointids/{scope}/{identifier}"
        return [str(g) for g in self._call("GET", path)["result"]]

    def details(self, gsrns: list[str]) -> tuple[dict[str, dict[str, Any]], list[timeseries.ItemError]]:
        """Master data of each metering point, and the errors of those refused."""
        found, errors = {}, []
        for i in range(0, len(gsrns), METERS_PER_CALL):
            body = {"meteringPoints": {"meteringPoint": gsrns[i : i + METERS_PER_CALL]}}
            for item in self._call("POST", "/api/meteringpoint/getdetails", body)["result"]:
                if item.get("success"):
                    found[str(item["id"])] = item["result"]
                else:
                    errors.append(timeseries.ItemError(str(item.get("id")), item.get("errorCode", 0),
                                                       str(item.get("errorText"))))  # fmt: skip
        return found, errors

    def timeseries(self, gsrns: list[str], begin_s: int, end_s: int
                   ) -> tuple[list[timeseries.Reading], list[timeseries.ItemError]]:  # fmt: skip
        """Readings of [begin_s, end_s) for the meters, and the errors of those that failed."""
        days = danish_days(begin_s, end_s, today=danish_date(int(self._clock())))
        readings: list[timeseries.Reading] = []
        errors: list[timeseries.ItemError] = []
        if days is None:
            return readings, errors
        first, last = days
        for i in range(0, len(gsrns), METERS_PER_CALL):
            body = {"meteringPoints": {"meteringPoint": gsrns[i : i + METERS_PER_CALL]}}
            answer = self._call("POST", f"/api/meterdata/gettimeseries/{first}/{last}/Actual", body)
            got, failed = timeseries.parse(answer)
            readings.extend(r for r in got if begin_s <= r.begin_s and r.end_s <= end_s)
            errors.extend(failed)
        return readings, errors


def _refusal(method: str, path: str, answer: bytes) -> DataHubError:
    """An error of the request as a whole: HTTP 400 with a bare JSON string."""
    try:
        text = str(json.loads(answer))
    except ValueError:
        text = answer[:200].decode(errors="replace")
    match = _CODE.search(text)
    return DataHubError(f"{method} {path}: the DataHub refused: {text}", int(match.group(1)) if match else None)
