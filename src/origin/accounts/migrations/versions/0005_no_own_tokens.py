"""The service's own API tokens go, and the DataHub tokens it kept sealed for the accounts: its API
takes the authorization server's access tokens, and it calls the DataHub service with the
caller's own."""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.drop_table("api_tokens")
    # In place (SQLite has dropped columns since 3.35): a batch would copy the table, which the
    # meters' foreign keys forbid.
    op.drop_column("accounts", "sealed_datahub_token")
