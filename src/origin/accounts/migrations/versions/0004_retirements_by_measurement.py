"""Retirements found by their measurement: the matching report joins them to the consumption it
sums, and without this index SQLite read every retirement for each measurement (a year of
15-minute data took minutes, not milliseconds)."""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_index("ix_retirements_measurement", "retirements", ["measurement"])
