"""An account's metering points. The owner names a meter their DataHub authorisation covers; the
service allocates the next meter index i, derives the meter key m/1'/i' and hands its xpub to
the DataHub service over its API, with the owner's own access token (whose audience names the
DataHub service too, and whose user is the meter's DataHub owner). It never hands out a private
key, and the DataHub service decides what the meter is (type, sector)."""

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from origin import database
from origin.accounts import db, wallets
from origin.accounts.custody import Kek
from origin.accounts.inventory import Inventory
from origin.accounts.wallets import AccountError
from origin.datahub import gsrn as gsrn_

Fetch = Callable[..., tuple[int, bytes]]


class Meters:
    def __init__(self, engine: Engine, kek: Kek, datahub_url: str, fetch: Fetch, inventory: Inventory):
        self.engine, self.kek, self.url, self.fetch, self.inventory = (
            engine,
            kek,
            datahub_url.rstrip("/"),
            fetch,
            inventory,
        )

    def _datahub(self, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            status, answer = self.fetch(method, self.url + path, None if body is None else json.dumps(body).encode(),
                                        headers=headers)  # fmt: skip
        except OSError as exc:
            raise AccountError(f"the DataHub service does not answer: {exc}", 503, "datahub_unavailable") from None
        try:
            return status, json.loads(answer)
        except ValueError:
            return status, {}

    def available(self, token: str) -> list[dict[str, Any]]:
        """The metering points the owner's DataHub authorisation covers, as the DataHub service
        lists them to the owner's access token."""
        found, after = [], ""
        while True:
            status, page = self._datahub(token, "GET", f"/v1/meters?after={after}&limit=1000")
            if status != 200:
                raise _datahub_refusal(status, page)
            found += page["meters"]
            after = page.get("next")
            if not after:
                return found

    def add(self, account: str, token: str, gsrn: str, meter_xpub: str | None = None) -> dict[str, Any]:
        """Add the meter: a held account's next meter key, or the xpub a self-custody owner gives;
        registered at the DataHub service with the owner's access token."""
        try:
            gsrn = gsrn_.validate(gsrn)
        except ValueError as exc:
            raise AccountError(str(exc)) from None
        status, meter = self._datahub(token, "GET", f"/v1/meters/{gsrn}")
        if status != 200:
            raise _datahub_refusal(status, meter)
        with database.writes(self.engine) as conn:
            if conn.execute(select(db.meters.c.account).where(db.meters.c.gsrn == gsrn)).first() is not None:
                raise AccountError(f"meter {gsrn} is added already", 409, "meter_exists")
            custody = wallets.get(conn, account).custody
            if (custody == wallets.SELF) != (meter_xpub is not None):
                raise AccountError("a self-custody account gives its meter_xpub (m/1'/i'); a held account never does")
            if meter_xpub is not None:
                idx, xpub = wallets.meter_index(meter_xpub), meter_xpub
                if conn.execute(select(db.meters.c.gsrn).where(db.meters.c.account == account, db.meters.c.idx == idx)
                                ).first() is not None:  # fmt: skip
                    raise AccountError(f"meter key m/1'/{idx}' is in use by another meter", 409, "meter_exists")
            else:
                conn.execute(update(db.accounts).where(db.accounts.c.id == account)
                             .values(next_meter=db.accounts.c.next_meter + 1))  # fmt: skip
                idx = conn.execute(select(db.accounts.c.next_meter).where(db.accounts.c.id == account)).scalar_one() - 1
                xpub = wallets.meter_xpub(self.engine, self.kek, account, idx)
            row = {"account": account, "idx": idx, "gsrn": gsrn, "xpub": xpub, "type": meter["type"],
                   "sector": meter.get("sector"), "added_s": int(time.time())}  # fmt: skip
            conn.execute(insert(db.meters).values(**row))
        status, answer = self._datahub(token, "PUT", f"/v1/meters/{gsrn}/xpub", {"meter_xpub": xpub})
        if status != 200:
            with database.writes(self.engine) as conn:
                conn.execute(delete(db.meters).where(db.meters.c.gsrn == gsrn))
            raise _datahub_refusal(status, answer)
        self.inventory.forget_meters()
        return row

    def set_retire_priority(self, account: str, gsrn: str, priority: int) -> None:
        with database.writes(self.engine) as conn:
            done = conn.execute(update(db.meters).where(db.meters.c.account == account, db.meters.c.gsrn == gsrn)
                                .values(retire_priority=priority)).rowcount  # fmt: skip
        if not done:
            raise AccountError(f"you have no meter {gsrn}", 404, "not_found")

    def listed(self, account: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(db.meters).where(db.meters.c.account == account)
                                                  .order_by(db.meters.c.idx)).mappings()]  # fmt: skip


def _datahub_refusal(status: int, answer: Any) -> AccountError:
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    message = error.get("message") or f"HTTP {status}"
    if status == 404:
        return AccountError(f"the DataHub service knows no such meter of yours: {message}", 404, "not_found")
    if status in (401, 403):
        return AccountError(f"the DataHub service refuses your access token (it needs the meters.write scope, and "
                            f"your user a DataHub identity): {message}", 403, "datahub_forbidden")  # fmt: skip
    if status >= 500:
        return AccountError(f"the DataHub service failed: {message}", 503, "datahub_unavailable")
    return AccountError(f"the DataHub service refuses: {message}", 409 if status == 409 else 422,
                        error.get("code", "datahub_refused"))  # fmt: skip
