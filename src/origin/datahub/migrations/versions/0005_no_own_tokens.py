"""The service's own API tokens go: its API takes the authorization server's access tokens only."""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.drop_table("api_tokens")
