"""Lists of GGOs and measurements read in their order (begin, address) from an index, so a page
costs the same with ten thousand rows or a million, and no query sorts them all."""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_index("ix_ggos_listing", "ggos", ["account", "begin_s", "address"])
    op.create_index("ix_measurements_listing", "measurements", ["account", "begin_s", "address"])
