"""The DataHub service's own database (SQLAlchemy Core): SQLite by default, PostgreSQL in
production, the same code and tests on both. Nothing here ever holds an owner's private key."""

from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.engine import Engine

from origin import database
from origin.webhooks import tables as webhook_tables

metadata = MetaData()

meters = Table(
    "meters", metadata,
    Column("gsrn", String(18), primary_key=True),
    # From the DataHub, through the authorisation its owner granted: nothing the owner claims.
    Column("type", String(11), nullable=False),  # PRODUCTION (E18) or CONSUMPTION (E17)
    Column("owner", String(200), nullable=False),  # the authorisation's customer key (or CVR)
    Column("authorization_id", String(64)),
    Column("resolution", String(5)),  # PT1H or PT15M
    Column("postcode", String(10)),
    Column("access_from_s", BigInteger),  # the authorisation's access to its data
    Column("access_to_s", BigInteger),
    # The price area: from the postcode, unless the issuing body set it (sector_by_issuer).
    Column("sector", String(64)),
    Column("sector_by_issuer", Boolean, nullable=False, server_default=false()),
    # The issuing body's: EECS technology and fuel (production only), disabled, quarantined.
    Column("tech_type", String(7)),
    Column("fuel_type", String(9)),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("quarantine", Text),  # why the ledger refused it: {"code", "message"} as JSON
    # The owner's: their m/1'/i' xpub, given once; without it, imported but not published.
    Column("meter_xpub", String(200), unique=True),
)  # fmt: skip

measurements = Table(
    "measurements", metadata,
    Column("gsrn", String(18), ForeignKey("meters.gsrn"), primary_key=True),
    Column("begin_s", BigInteger, primary_key=True),
    Column("end_s", BigInteger, nullable=False),
    Column("amount_wh", BigInteger, nullable=False),
    # On the ledger; null while the meter has no xpub. Unique by derivation, not indexed: the GSRN
    # behind an address is found through the ledger entry that published it (ledger_batches.seq).
    Column("address", String(70)),
    Column("batch", String(64)),  # the ledger batch that publishes it
    Column("seq", BigInteger),  # the ledger entry that holds it, once committed
    # Partial indexes, each written where it ends rather than at scattered places: a meter's
    # unclaimed rows, in the order they are stored and claimed (the claim reads one meter at a time);
    Index("ix_measurements_unclaimed", "gsrn", "begin_s", postgresql_where=text("batch IS NULL"),
          sqlite_where=text("batch IS NULL")),
    # a batch's rows, written when they are claimed (together: one place in the index).
    Index("ix_measurements_batch", "batch", postgresql_where=text("batch IS NOT NULL"),
          sqlite_where=text("batch IS NOT NULL")),
)  # fmt: skip

ledger_batches = Table(
    "ledger_batches", metadata,
    Column("id", String(64), primary_key=True),
    Column("body", LargeBinary, nullable=False),  # the exact bytes: resubmitted as they are
    Column("status", String(10), nullable=False),  # PENDING, COMMITTED or INVALID
    Column("seq", BigInteger, index=True),
    Column("error", Text),
    Column("created_s", BigInteger, nullable=False),
)  # fmt: skip

import_issues = Table(
    "import_issues", metadata,
    Column("gsrn", String(18), primary_key=True),
    Column("begin_s", BigInteger, primary_key=True),
    Column("kind", String(10), primary_key=True),  # gap or correction
    Column("detail", Text, nullable=False),
    Column("seen_s", BigInteger, nullable=False),
)  # fmt: skip

webhooks, deliveries = webhook_tables(metadata)

MIGRATIONS = Path(__file__).parent / "migrations"


def connect(url: str) -> Engine:
    """An engine for sqlite:///PATH or postgresql://..., with the schema in place."""
    engine = database.engine_for(url)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest migration; the revision it is at. A database made before
    migrations existed is recognised as the first."""
    return database.migrate(engine, MIGRATIONS, legacy=("meters", "0001"))
