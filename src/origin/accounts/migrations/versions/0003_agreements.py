"""Transfer agreements, the transfers made under them, automatic routing (its queue of periods
and its runs), and the retire priority of consumption meters. Plain ALTER TABLE ADD COLUMN: on
SQLite a batch migration would copy the accounts table, which its foreign keys forbid."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("sender", sa.String(length=40), nullable=False),
        sa.Column("receiver", sa.String(length=40), nullable=True),
        sa.Column("receiver_xpub", sa.String(length=200), nullable=True),
        sa.Column("receiver_notify", sa.Text(), nullable=True),
        sa.Column("proposed_by", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=9), nullable=False),
        sa.Column("begin_s", sa.BigInteger(), nullable=False),
        sa.Column("end_s", sa.BigInteger(), nullable=True),
        sa.Column("sectors", sa.Text(), nullable=True),
        sa.Column("technologies", sa.Text(), nullable=True),
        sa.Column("rule", sa.String(length=9), nullable=False),
        sa.Column("rule_value", sa.BigInteger(), nullable=True),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_s", sa.BigInteger(), nullable=False),
        sa.Column("expires_s", sa.BigInteger(), nullable=False),
        sa.Column("decided_s", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["receiver"],
            ["accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sender"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_agreements_receiver", "agreements", ["receiver", "status"], unique=False)
    op.create_index("ix_agreements_sender", "agreements", ["sender", "status", "priority"], unique=False)

    op.create_table(
        "automation_queue",
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("begin_s", sa.BigInteger(), nullable=False),
        sa.Column("end_s", sa.BigInteger(), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("account", "begin_s", "end_s", "sector"),
    )
    op.create_table(
        "automation_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("created_s", sa.BigInteger(), nullable=False),
        sa.Column("periods", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_automation_runs_account", "automation_runs", ["account"], unique=False)

    op.create_table(
        "agreement_transfers",
        sa.Column("agreement", sa.String(length=40), nullable=False),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("begin_s", sa.BigInteger(), nullable=False),
        sa.Column("sector", sa.String(length=64), nullable=False),
        sa.Column("amount_wh", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement"],
            ["agreements.id"],
        ),
        sa.ForeignKeyConstraint(
            ["operation"],
            ["operations.id"],
        ),
        sa.PrimaryKeyConstraint("agreement", "operation", "begin_s", "sector"),
    )
    op.add_column("accounts", sa.Column("automation", sa.Boolean(), server_default=sa.false(), nullable=False))

    op.add_column("meters", sa.Column("retire_priority", sa.Integer(), server_default="0", nullable=False))
