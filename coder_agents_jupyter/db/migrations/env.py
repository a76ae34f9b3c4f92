"""Alembic environment: runs on the connection handed over by ``db.engine.connect``."""

from alembic import context

from coder_agents_jupyter.db.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
