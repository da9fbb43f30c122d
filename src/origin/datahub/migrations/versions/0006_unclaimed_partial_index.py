"""A partial index of the unclaimed measurements, in claiming order: PostgreSQL does not take
"batch IS NULL" as fixing the claim index's first column, so it sorted every unclaimed
measurement for each batch it claimed (35 ms at 66,000 rows, a full scan each time); with this
index it reads the batch's rows in order (0.35 ms). SQLite keeps using the claim index, which
also finds a batch's rows: the index on `batch` alone only cost every claim a write."""

from alembic import op
from sqlalchemy import text

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.drop_index("ix_measurements_batch", table_name="measurements")
    op.create_index("ix_measurements_unclaimed", "measurements", ["begin_s", "gsrn"],
                    postgresql_where=text("batch IS NULL"), sqlite_where=text("batch IS NULL"))  # fmt: skip
