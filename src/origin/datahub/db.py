"""The DataHub service's own database (SQLAlchemy Core): SQLite by default, PostgreSQL in
production, the same code and tests on both. Nothing here ever holds an owner's private key."""

import logging
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
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
    create_engine,  # fmt: skip
    event,
    false,
    inspect,
)
from sqlalchemy.engine import Engine

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
    Column("address", String(70), unique=True),  # on the ledger; null while the meter has no xpub
    Column("batch", String(64), index=True),  # the ledger batch that publishes it
    Column("seq", BigInteger),  # the ledger entry that holds it, once committed
    Index("ix_measurements_claim", "batch", "begin_s", "gsrn"),  # the unclaimed, in claiming order
)  # fmt: skip

ledger_batches = Table(
    "ledger_batches", metadata,
    Column("id", String(64), primary_key=True),
    Column("body", LargeBinary, nullable=False),  # the exact bytes: resubmitted as they are
    Column("status", String(10), nullable=False),  # PENDING, COMMITTED or INVALID
    Column("seq", BigInteger),
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

api_tokens = Table(
    "api_tokens", metadata,
    Column("hash", String(64), primary_key=True),  # SHA-256 of the token: the token is never stored
    Column("subject", String(200), nullable=False),
    Column("role", String(10), nullable=False),  # issuer or owner
    Column("label", String(200), nullable=False),
    Column("created_s", BigInteger, nullable=False),
)  # fmt: skip

webhooks = Table(
    "webhooks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("events", Text, nullable=False),  # space-separated event names
    Column("owner", String(200)),  # null: the issuing body's, of every meter; else of this owner's
    Column("failures", Integer, nullable=False, server_default="0"),  # POSTs failed in a row
    Column("next_attempt_s", BigInteger, nullable=False, server_default="0"),  # its backoff
    Column("last_error", Text),
)  # fmt: skip

deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook", Integer, ForeignKey("webhooks.id"), nullable=False),
    Column("event", String(40), nullable=False),
    Column("owner", String(200)),  # the owner of the meter the event is about
    Column("payload", LargeBinary, nullable=False),
    Column("status", String(10), nullable=False, index=True),  # PENDING, DELIVERED or FAILED
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_s", BigInteger, nullable=False),
    Column("last_error", Text),
)  # fmt: skip


def connect(url: str) -> Engine:
    """An engine for sqlite:///PATH or postgresql://..., with the schema in place."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(connection: sqlite3.Connection, _):
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA busy_timeout=10000")

    migrate(engine)
    return engine


MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: Engine) -> str:
    """Bring the schema to the newest numbered migration (Alembic, under migrations/); the
    revision it is at. A database made before migrations existed is recognised as the first."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its steps are no news to an operator
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if "meters" in tables and "alembic_version" not in tables:
            command.stamp(config, "0001")
        command.upgrade(config, "head")
        revision = MigrationContext.configure(connection).get_current_revision()
    assert revision is not None, "the migrations ran"
    return revision
