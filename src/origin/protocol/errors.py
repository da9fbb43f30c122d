"""The error codes of PROTOCOL.md section 10, and the one exception that carries them."""

CODES = frozenset(
    {
        "malformed",
        "invalid_batch",
        "bad_signature",
        "unauthorized",
        "wrong_namespace",
        "address_in_use",
        "not_found",
        "not_owner",
        "already_used",
        "expired",
        "invalid_period",
        "unknown_sector",
        "invalid_amount",
        "invalid_parts",
        "amount_mismatch",
        "duplicate_address",
        "not_production",
        "not_consumption",
        "key_mismatch",
        "not_retired",
        "period_mismatch",
        "sector_mismatch",
        "over_retired",
        "unpaired_retire",
    }
)


class ProtocolError(Exception):
    """A refusal under the protocol: a code of section 10, a human message, and the index of
    the transaction in its batch (None when the refusal is about the batch as a whole)."""

    def __init__(self, code: str, message: str, transaction: int | None = None):
        assert code in CODES, code
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.transaction = transaction

    def at(self, transaction: int) -> "ProtocolError":
        """The same refusal, attributed to the transaction at this index."""
        return ProtocolError(self.code, self.message, transaction)

    def to_json(self) -> dict[str, str | int | None]:
        return {"code": self.code, "message": self.message, "transaction": self.transaction}
