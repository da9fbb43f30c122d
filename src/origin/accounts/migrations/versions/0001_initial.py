"""The account service's tables as first made: accounts (sealed seeds), tokens, meters, receive
keys, the inventory, operations and their batches, the follower's position, webhooks."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("custody", sa.String(length=4), nullable=False),
        sa.Column("created_s", sa.BigInteger(), nullable=False),
        sa.Column("kek_id", sa.String(length=16), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_seed", sa.LargeBinary(), nullable=True),
        sa.Column("sealed_datahub_token", sa.LargeBinary(), nullable=True),
        sa.Column("receive_xpub", sa.String(length=200), nullable=False),
        sa.Column("master_xpub", sa.String(length=200), nullable=True),
        sa.Column("next_meter", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_receive", sa.Integer(), server_default="0", nullable=False),
        sa.Column("watched_receive", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_s", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )
    op.create_table(
        "follower",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("edge", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sent_indices",
        sa.Column("xpub", sa.String(length=200), nullable=False),
        sa.Column("next_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("xpub"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_s", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ggos",
        sa.Column("address", sa.String(length=70), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("origin", sa.String(length=70), nullable=False),
        sa.Column("begin_s", sa.BigInteger(), nullable=False),
        sa.Column("end_s", sa.BigInteger(), nullable=False),
        sa.Column("amount_wh", sa.BigInteger(), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=False),
        sa.Column("tech_type", sa.String(length=7), nullable=False),
        sa.Column("fuel_type", sa.String(length=9), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("key_path", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=11), nullable=False),
        sa.Column("next", sa.Text(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("spent_seq", sa.BigInteger(), nullable=True),
        sa.Column("operation", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["account"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("address"),
    )
    with op.batch_alter_table("ggos", schema=None) as batch_op:
        batch_op.create_index("ix_ggos_account", ["account", "state", "begin_s"], unique=False)

    op.create_table(
        "measurements",
        sa.Column("address", sa.String(length=70), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("meter", sa.Integer(), nullable=False),
        sa.Column("begin_s", sa.BigInteger(), nullable=False),
        sa.Column("end_s", sa.BigInteger(), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=11), nullable=False),
        sa.Column("amount_wh", sa.BigInteger(), nullable=False),
        sa.Column("retired_wh", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("address"),
    )
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.create_index("ix_measurements_account", ["account", "type", "begin_s"], unique=False)

    op.create_table(
        "meters",
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("gsrn", sa.String(length=18), nullable=False),
        sa.Column("xpub", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=11), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=True),
        sa.Column("added_s", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("account", "idx"),
        sa.UniqueConstraint("gsrn"),
        sa.UniqueConstraint("xpub"),
    )
    op.create_table(
        "operations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("effects", sa.Text(), nullable=True),
        sa.Column("created_s", sa.BigInteger(), nullable=False),
        sa.Column("updated_s", sa.BigInteger(), nullable=False),
        sa.Column("dismissed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account", "idempotency_key"),
    )
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_index("ix_operations_status", ["status"], unique=False)

    op.create_table(
        "receive_keys",
        sa.Column("address", sa.String(length=70), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("used_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("address"),
        sa.UniqueConstraint("account", "n"),
    )
    op.create_table(
        "retirements",
        sa.Column("ggo", sa.String(length=70), nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("measurement", sa.String(length=70), nullable=False),
        sa.Column("amount_wh", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("ggo"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("webhook", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_s", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook"],
            ["webhooks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_status"), ["status"], unique=False)

    op.create_table(
        "operation_batches",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["operation"],
            ["operations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("operation_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_operation_batches_operation"), ["operation"], unique=False)
