"""Operation batches found by their log position: a plan counts the retirements of operations the
ledger committed but the inventory has not applied yet (those past its position), so two
operations in quick succession never retire more than a consumption."""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_index("ix_operation_batches_seq", "operation_batches", ["seq"])
