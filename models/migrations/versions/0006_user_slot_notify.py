"""Notify listeners when a user's slot changes (PostgreSQL only)

The old system's web app writes `user_detail` rows directly. A row trigger sends the slots a
change touches (`zone@HH:MM`, the old one and the new one) on the `panchang_user_slots`
channel; Beat's listener has them synced within seconds, whoever wrote the row. PostgreSQL
delivers identical payloads of one transaction once, so a bulk import notifies each slot
once. SQLite has no LISTEN/NOTIFY: there the periodic full sync stays the only path.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 07:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION panchang_user_slots_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('panchang_user_slots', OLD.timezone || '@' || OLD.send_time);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('panchang_user_slots', NEW.timezone || '@' || NEW.send_time);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""

# Only the columns that decide who is in which slot: a name or language change is no news.
TRIGGER = """
CREATE TRIGGER user_detail_slots_changed
AFTER INSERT OR DELETE OR UPDATE OF timezone, send_time, obsoleted_on, unreachable_at
ON user_detail FOR EACH ROW EXECUTE FUNCTION panchang_user_slots_changed()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS user_detail_slots_changed ON user_detail")
    op.execute("DROP FUNCTION IF EXISTS panchang_user_slots_changed()")
