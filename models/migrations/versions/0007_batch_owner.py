"""Who holds a running batch, so a dead holder's batch is sent again within seconds

- send_batch.owner: the liveness id of the worker process running the attempt (its
  `panchang:alive:<owner>` key lives a few seconds unless the process refreshes it);
- send_batch.claim_token: the token the attempt claimed its ledger rows with, so the claims
  of a dead attempt can be released at once instead of after the lease;
- an index on send_batch.state: worker processes look for running batches every few seconds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("send_batch") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
    op.create_index("ix_send_batch_state", "send_batch", ["state"])


def downgrade() -> None:
    op.drop_index("ix_send_batch_state", table_name="send_batch")
    with op.batch_alter_table("send_batch") as batch:
        batch.drop_column("claim_token")
        batch.drop_column("owner")
