"""Measurements' addresses without a unique index: every stored measurement inserted one entry
at a random place in it, a page written each, and at a month of 1,000 meters that cost more
than storing the rows (103 s against 18 s, measured). Addresses are unique without it (derived
from unique xpubs; the ledger refuses an address in use), and the GSRN behind an address is
found through the ledger entry that published it: ledger batches get an index on their entry."""

from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint("measurements_address_key", "measurements", type_="unique")
    else:  # SQLite names the constraint of `unique=True` nothing: the table is made anew without it
        with op.batch_alter_table("measurements", recreate="always",
                                  naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"}) as table:  # fmt: skip
            table.drop_constraint("uq_measurements_address", type_="unique")
    op.create_index("ix_ledger_batches_seq", "ledger_batches", ["seq"])
