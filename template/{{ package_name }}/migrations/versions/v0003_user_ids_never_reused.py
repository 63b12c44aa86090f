"""User ids are never reused: SQLite's users table gets AUTOINCREMENT.

Without it SQLite hands out the highest freed id again, so the next user created after
the newest was deleted would take their id, and anything that still named it (a
credential kept elsewhere) would name someone else. PostgreSQL's identity columns never
reuse a value; there this revision changes nothing.

The table is rebuilt (copy, drop, rename) with foreign keys off (migrations/env.py), so
no row that refers to a user goes with it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild_users(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    kwargs = {"sqlite_autoincrement": autoincrement}
    with op.batch_alter_table("users", recreate="always", table_kwargs=kwargs):
        pass


def upgrade() -> None:
    _rebuild_users(autoincrement=True)


def downgrade() -> None:
    _rebuild_users(autoincrement=False)
