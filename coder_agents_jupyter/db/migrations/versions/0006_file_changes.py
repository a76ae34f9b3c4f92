"""file_changes: every file an agent wrote, with its content before and after (bounded)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "file_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.String(length=36), nullable=False),
        sa.Column("root_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("before_exists", sa.Boolean(), nullable=False),
        sa.Column("after_exists", sa.Boolean(), nullable=False),
        sa.Column("binary_or_large", sa.Boolean(), nullable=False),
        sa.Column("before_size", sa.BigInteger(), nullable=True),
        sa.Column("after_size", sa.BigInteger(), nullable=True),
        sa.Column("before_sha256", sa.String(length=64), nullable=True),
        sa.Column("after_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("file_changes") as batch:
        batch.create_index("ix_file_changes_chat_id", ["chat_id"], unique=False)
        batch.create_index("ix_file_changes_root_id", ["root_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("file_changes") as batch:
        batch.drop_index("ix_file_changes_root_id")
        batch.drop_index("ix_file_changes_chat_id")
    op.drop_table("file_changes")
