"""Webhooks as subscribers with their own queue and backoff: an owner's subscription hears of
its own meters only; a subscriber that fails waits without holding up any other."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as hooks:
        hooks.add_column(sa.Column("owner", sa.String(200)))  # null: the issuing body's, every meter
        hooks.add_column(sa.Column("failures", sa.Integer, nullable=False, server_default="0"))
        hooks.add_column(sa.Column("next_attempt_s", sa.BigInteger, nullable=False, server_default="0"))
        hooks.add_column(sa.Column("last_error", sa.Text))
    with op.batch_alter_table("webhook_deliveries") as deliveries:
        deliveries.add_column(sa.Column("owner", sa.String(200)))  # the meter's owner of the event
