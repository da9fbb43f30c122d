"""The DataHub service's tables as they were first made: meters, measurements, the ledger
batches that publish them, import issues, webhooks and their deliveries."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("gsrn", sa.String(18), primary_key=True),
        sa.Column("type", sa.String(11), nullable=False),
        sa.Column("sector", sa.String(64), nullable=False),
        sa.Column("tech_type", sa.String(7)),
        sa.Column("fuel_type", sa.String(9)),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("meter_xpub", sa.String(200)),
    )
    op.create_table(
        "measurements",
        sa.Column("gsrn", sa.String(18), sa.ForeignKey("meters.gsrn"), primary_key=True),
        sa.Column("begin_s", sa.BigInteger, primary_key=True),
        sa.Column("end_s", sa.BigInteger, nullable=False),
        sa.Column("amount_wh", sa.BigInteger, nullable=False),
        sa.Column("address", sa.String(70), unique=True),
        sa.Column("batch", sa.String(64), index=True),
        sa.Column("seq", sa.BigInteger),
    )
    op.create_table(
        "ledger_batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("seq", sa.BigInteger),
        sa.Column("error", sa.Text),
        sa.Column("created_s", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "import_issues",
        sa.Column("gsrn", sa.String(18), primary_key=True),
        sa.Column("begin_s", sa.BigInteger, primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("seen_s", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("webhook", sa.Integer, sa.ForeignKey("webhooks.id"), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_s", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
    )
