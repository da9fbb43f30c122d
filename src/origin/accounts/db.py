"""The account service's own database (SQLAlchemy Core): SQLite by default, PostgreSQL in
production. It holds seeds and credentials only sealed (`custody`), never a private key in the
clear; the inventory in it is rebuilt from the ledger's log, which stays the truth."""

from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Engine

from origin import database
from origin.webhooks import tables as webhook_tables

metadata = MetaData()
ADDRESS = 70

accounts = Table(
    "accounts", metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("custody", String(4), nullable=False),  # "held" (the service signs) or "self" (the owner does)
    Column("created_s", BigInteger, nullable=False),
    # Sealed (custody.py): the data key wrapped by the KEK, the seed and DataHub token under it.
    Column("kek_id", String(16), nullable=False),
    Column("wrapped_key", LargeBinary, nullable=False),
    Column("sealed_seed", LargeBinary),  # null for self-custody
    # Public: the xpub of m/0' (receive keys m/0'/n); for self-custody also the master's xpub.
    Column("receive_xpub", String(200), nullable=False),
    Column("master_xpub", String(200)),
    Column("next_meter", Integer, nullable=False, server_default="0"),
    Column("next_receive", Integer, nullable=False, server_default="0"),  # the next m/0'/n to hand out
    Column("watched_receive", Integer, nullable=False, server_default="0"),  # m/0'/n below this are watched
    # Automatic routing: retire what arrives against unmatched consumption, then serve agreements.
    Column("automation", Boolean, nullable=False, server_default=false()),
)  # fmt: skip

meters = Table(
    "meters", metadata,
    Column("account", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("idx", Integer, primary_key=True),  # i of m/1'/i'
    Column("gsrn", String(18), nullable=False, unique=True),
    Column("xpub", String(200), nullable=False, unique=True),
    Column("type", String(11), nullable=False),
    Column("sector", String(64)),
    Column("added_s", BigInteger, nullable=False),
    Column("retire_priority", Integer, nullable=False, server_default="0"),  # lower first
)  # fmt: skip

receive_keys = Table(
    "receive_keys", metadata,
    Column("address", String(ADDRESS), primary_key=True),  # the GGO address of m/0'/n
    Column("account", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("n", Integer, nullable=False),
    Column("used_seq", BigInteger),  # the log entry that first wrote it
    UniqueConstraint("account", "n"),
)  # fmt: skip

measurements = Table(
    "measurements", metadata,
    Column("address", String(ADDRESS), primary_key=True),
    Column("account", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("meter", Integer, nullable=False),
    Column("begin_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("sector", String(64), nullable=False),
    Column("type", String(11), nullable=False),
    Column("amount_wh", BigInteger, nullable=False),
    Column("retired_wh", BigInteger, nullable=False, server_default="0"),
    Column("seq", BigInteger, nullable=False),
    Index("ix_measurements_account", "account", "type", "begin_s"),
    Index("ix_measurements_listing", "account", "begin_s", "address"),
)  # fmt: skip

ggos = Table(
    "ggos", metadata,
    Column("address", String(ADDRESS), primary_key=True),
    Column("account", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("origin", String(ADDRESS), nullable=False),
    Column("begin_s", BigInteger, nullable=False),
    Column("end_s", BigInteger, nullable=False),
    Column("amount_wh", BigInteger, nullable=False),
    Column("sector", String(64), nullable=False),
    Column("tech_type", String(7), nullable=False),
    Column("fuel_type", String(9), nullable=False),
    Column("source", String(8), nullable=False),  # issued (from a meter), received, or change (own split)
    Column("key_path", String(40), nullable=False),  # its key below m: "1'/i'/t" or "0'/n"
    Column("state", String(11), nullable=False),  # available, transferred, split or retired
    Column("next", Text),  # the ledger's `next`, as canonical JSON, once spent
    Column("seq", BigInteger, nullable=False),  # the log entry that made it
    Column("spent_seq", BigInteger),
    Column("operation", String(40)),  # the operation that reserved it, until its outcome
    Index("ix_ggos_account", "account", "state", "begin_s"),
    Index("ix_ggos_listing", "account", "begin_s", "address"),  # lists in their order: no sort of every row
)  # fmt: skip

retirements = Table(
    "retirements", metadata,
    Column("ggo", String(ADDRESS), primary_key=True),
    Column("account", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("measurement", String(ADDRESS), nullable=False, index=True),
    Column("amount_wh", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
)  # fmt: skip

operations = Table(
    "operations", metadata,
    Column("id", String(40), primary_key=True),
    Column("account", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(9), nullable=False),  # PENDING, COMMITTED or FAILED
    Column("request", Text, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("idempotency_key", String(200)),
    Column("error_code", String(40)),
    Column("error_message", Text),
    # JSON: {"notify": [{"url", "ggo", "index"}], "retire": {measurement: Wh}}: the receivers to
    # tell once it commits, and the consumption it will retire against while pending.
    Column("effects", Text),
    Column("created_s", BigInteger, nullable=False),
    Column("updated_s", BigInteger, nullable=False),
    Column("dismissed", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("account", "idempotency_key"),
    Index("ix_operations_status", "status"),
)  # fmt: skip

operation_batches = Table(
    "operation_batches", metadata,
    Column("id", String(64), primary_key=True),  # the ledger batch id
    Column("operation", String(40), ForeignKey("operations.id"), nullable=False, index=True),
    Column("n", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),  # the exact bytes: resubmitted as they are
    Column("status", String(9), nullable=False),  # PENDING, COMMITTED or INVALID
    Column("seq", BigInteger),
    Index("ix_operation_batches_seq", "seq"),
)  # fmt: skip

sent_indices = Table(
    "sent_indices", metadata,
    Column("xpub", String(200), primary_key=True),  # an external receive endpoint's xpub
    Column("next_index", Integer, nullable=False),
)  # fmt: skip

follower = Table(
    "follower", metadata,
    Column("id", Integer, primary_key=True),  # one row
    Column("size", BigInteger, nullable=False),  # log entries applied to the inventory
    Column("edge", Text, nullable=False),  # the Merkle frontier of those entries, JSON
)  # fmt: skip

webhooks, deliveries = webhook_tables(metadata)  # owner: the account

agreements = Table(
    "agreements", metadata,
    Column("id", String(40), primary_key=True),
    Column("sender", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("receiver", String(40), ForeignKey("accounts.id")),  # an account of this service, or
    Column("receiver_xpub", String(200)),  # an external receive endpoint
    Column("receiver_notify", Text),
    Column("proposed_by", String(40), nullable=False),
    Column("status", String(9), nullable=False),  # PROPOSED ACCEPTED DECLINED WITHDRAWN CANCELLED EXPIRED
    Column("begin_s", BigInteger, nullable=False),
    Column("end_s", BigInteger),  # null: open-ended
    Column("sectors", Text),  # JSON list; null: every sector
    Column("technologies", Text),  # JSON list of EECS technology codes; null: every one
    Column("rule", String(9), nullable=False),  # cap (Wh an hour), percent (of the sender's production), unmatched
    Column("rule_value", BigInteger),
    Column("priority", Integer, nullable=False, server_default="0"),  # the sender's order, lower first
    Column("created_s", BigInteger, nullable=False),
    Column("expires_s", BigInteger, nullable=False),  # a proposal not answered by then expires
    Column("decided_s", BigInteger),
    Index("ix_agreements_sender", "sender", "status", "priority"),
    Index("ix_agreements_receiver", "receiver", "status"),
)  # fmt: skip

agreement_transfers = Table(
    "agreement_transfers", metadata,
    Column("agreement", String(40), ForeignKey("agreements.id"), primary_key=True),
    Column("operation", String(40), ForeignKey("operations.id"), primary_key=True),
    Column("begin_s", BigInteger, primary_key=True),
    Column("sector", String(64), primary_key=True),
    Column("amount_wh", BigInteger, nullable=False),
)  # fmt: skip

automation_queue = Table(
    "automation_queue", metadata,  # periods of an account with something new to route
    Column("account", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("begin_s", BigInteger, primary_key=True),
    Column("end_s", BigInteger, primary_key=True),
    Column("sector", String(64), primary_key=True),
)  # fmt: skip

automation_runs = Table(
    "automation_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("created_s", BigInteger, nullable=False),
    Column("periods", Integer, nullable=False),
    Column("operation", String(40)),  # null when there was nothing to do, or it was refused
    Column("outcome", Text, nullable=False),  # what it did, or why it could not
)  # fmt: skip

MIGRATIONS = Path(__file__).parent / "migrations"


def connect(url: str) -> Engine:
    """An engine for sqlite:///PATH or postgresql://..., with the schema in place."""
    return database.connect(url, MIGRATIONS)
