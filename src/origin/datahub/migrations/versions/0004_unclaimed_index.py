"""The measurements waiting to be claimed, in the order they are claimed: an index, so that a
claim reads a batch's worth, not the whole table."""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_index("ix_measurements_claim", "measurements", ["batch", "begin_s", "gsrn"])
