"""Meters as the DataHub describes them (resolution, postcode, access period, authorisation),
the issuing body's say (sector set by it, disabled, quarantined with the ledger's reason), one
meter per xpub; API tokens stored hashed."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("meters") as meters:
        meters.add_column(sa.Column("resolution", sa.String(5)))
        meters.add_column(sa.Column("postcode", sa.String(10)))
        meters.add_column(sa.Column("access_from_s", sa.BigInteger))
        meters.add_column(sa.Column("access_to_s", sa.BigInteger))
        meters.add_column(sa.Column("authorization_id", sa.String(64)))
        meters.add_column(sa.Column("sector_by_issuer", sa.Boolean, nullable=False, server_default=sa.false()))
        meters.add_column(sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()))
        meters.add_column(sa.Column("quarantine", sa.Text))
        meters.alter_column("sector", existing_type=sa.String(64), nullable=True)
        meters.create_unique_constraint("uq_meters_meter_xpub", ["meter_xpub"])
    op.create_table(
        "api_tokens",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_s", sa.BigInteger, nullable=False),
    )
