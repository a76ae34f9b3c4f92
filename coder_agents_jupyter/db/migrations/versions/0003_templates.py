"""Template workspaces (template, parameters, build log) and the owner's identity on chats

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("owner_info", sa.JSON(), nullable=True))
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("template", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("parameters", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("build_log", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("build_log")
        batch.drop_column("parameters")
        batch.drop_column("template")
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("owner_info")
