"""The ledger as the account service reaches it: over its public HTTP API (PROTOCOL.md section 9),
exactly as any third party would. Entries are read a tile at a time (C2SP tlog-tiles entry
bundles), and every checkpoint's signature is checked against the genesis' log key."""

import base64
import json
from collections.abc import Callable
from typing import Any

from origin.ledger.tiles import TILE_WIDTH, tile_path
from origin.protocol import note
from origin.protocol.canonical import parse
from origin.protocol.genesis import Config, parse_genesis

FEW_ENTRIES = 8  # fewer new entries than this are read one by one, not as their tile's bundle
Fetch = Callable[..., tuple[int, bytes]]  # (method, url, body=None) -> (status, body)


class LedgerUnavailable(Exception):
    """The ledger did not answer, or answered 5xx: try again later."""


class LedgerAlarm(Exception):
    """The ledger served something its signed checkpoint contradicts."""


class LedgerClient:
    def __init__(self, url: str, fetch: Fetch):
        self.url, self.fetch = url.rstrip("/"), fetch
        self._config: Config | None = None

    def _get(self, path: str, allow: tuple[int, ...] = (200,)) -> tuple[int, bytes]:
        try:
            status, body = self.fetch("GET", self.url + path)
        except OSError as exc:
            raise LedgerUnavailable(f"the ledger at {self.url} does not answer: {exc}") from None
        if status not in allow:
            raise LedgerUnavailable(f"GET {path} at the ledger answered HTTP {status}")
        return status, body

    def config(self) -> Config:
        """The ledger's genesis, checked (asked once: a genesis never changes)."""
        if self._config is None:
            self._config = parse_genesis(parse(self._get("/v1/genesis")[1]))
        return self._config

    def submit(self, body: bytes) -> dict[str, Any]:
        """POST a batch and wait for its outcome: {"id", "status", "seq"?, "error"?}."""
        try:
            status, answer = self.fetch("POST", self.url + "/v1/batches?wait=true", body)
        except OSError as exc:
            raise LedgerUnavailable(f"the ledger at {self.url} does not answer: {exc}") from None
        if status >= 500 or status == 408:
            raise LedgerUnavailable(f"the ledger answered HTTP {status} to a batch")
        outcome: dict[str, Any] = json.loads(answer)
        if status != 200 or "status" not in outcome:  # 400 or 413: the batch is not one it takes
            error = outcome.get("error", {})
            return {"status": "INVALID", "error": {"code": error.get("code", "invalid_batch"),
                                                   "message": error.get("message", f"HTTP {status}")}}  # fmt: skip
        return outcome

    def status(self, batch_id: str) -> dict[str, Any]:
        body = self._get(f"/v1/batches/{batch_id}")[1]
        answer: dict[str, Any] = json.loads(body)
        return answer

    def state(self, address: str) -> dict[str, Any] | None:
        """The record at `address`, or None when it is empty."""
        status, body = self._get(f"/v1/state/{address}", allow=(200, 404))
        if status == 404:
            return None
        record: dict[str, Any] = json.loads(body)["record"]
        return record

    def checkpoint(self) -> note.Checkpoint:
        """The log's size and root, signed by the log key of the genesis."""
        config = self.config()
        signed = self._get("/v1/checkpoint")[1].decode()
        try:
            checkpoint = note.Checkpoint.parse(note.open_note(signed, config.log_key))
        except note.NoteError as exc:
            raise LedgerAlarm(f"the ledger's checkpoint is not signed by its log key: {exc}") from None
        if checkpoint.origin != config.ledger:
            raise LedgerAlarm(f"the checkpoint is of log {checkpoint.origin!r}, not {config.ledger!r}")
        return checkpoint

    def consistency(self, old: int, new: int) -> list[bytes]:
        """The RFC 9162 consistency proof between two sizes of the log."""
        answer = self._get(f"/v1/proofs/consistency?from={old}&to={new}")[1]
        try:
            return [base64.b64decode(h, validate=True) for h in json.loads(answer)["hashes"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise LedgerAlarm(f"the ledger's consistency proof is not {{'hashes': [base64, ...]}}: {exc!r}") from None

    def entries(self, start: int, size: int) -> list[bytes]:
        """The entries from `start` to the end of its tile, at most up to `size`: one entry
        bundle, or, for a few new entries, those alone."""
        if size - start <= FEW_ENTRIES:
            return [self._get(f"/v1/entries/{seq}")[1] for seq in range(start, size)]
        tile = start // TILE_WIDTH
        width = min(TILE_WIDTH, size - tile * TILE_WIDTH)
        bundle = self._get("/" + tile_path("entries", tile, width))[1]
        found, at = [], 0
        while at < len(bundle):
            length = int.from_bytes(bundle[at : at + 2], "big")
            found.append(bundle[at + 2 : at + 2 + length])
            at += 2 + length
        if len(found) != width:
            raise LedgerAlarm(f"entry bundle {tile} holds {len(found)} entries, not {width}")
        return found[start - tile * TILE_WIDTH :]
