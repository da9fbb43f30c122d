"""The account service's migrations make exactly the schema its tables declare, on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from origin import database
from origin.accounts import db


def test_the_migrations_make_the_declared_schema(database_url):
    engine = db.connect(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
    assert database.migrate(engine, db.MIGRATIONS) == "0003"  # again: nothing to do
    engine.dispose()
