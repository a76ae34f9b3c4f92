"""What a chat awaits from its user (a plan decision, answers, approvals) and its own tool policy

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.add_column(sa.Column("awaiting", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("tool_policy", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("tool_policy")
        batch.drop_column("awaiting")
