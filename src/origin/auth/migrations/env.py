"""Alembic's environment for the authorization server: migrations run on the connection that
`origin.database.migrate` hands over, inside its transaction."""

from alembic import context

from origin.auth.db import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
