"""The account service's migrations make exactly the schema its tables declare, on both backends."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from origin import database
from origin.accounts import db


def test_the_migrations_make_the_declared_schema(database_url):
    engine = db.connect(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
    assert database.migrate(engine, db.MIGRATIONS) == "0006"  # again: nothing to do
    engine.dispose()


def test_a_database_with_accounts_and_meters_is_migrated_in_place(database_url):
    """Each later migration on a database that holds data (as an operator's would)."""
    engine = database.engine_for(database_url)
    config = AlembicConfig()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO accounts (id, name, custody, created_s, kek_id, wrapped_key, receive_xpub) "
                                "VALUES ('acc_1', 'A', 'held', 0, 'k', :key, 'xpub')"), {"key": b"\\0"})  # fmt: skip
        connection.execute(text("INSERT INTO meters (account, idx, gsrn, xpub, type, added_s) "
                                "VALUES ('acc_1', 0, '571313000000000006', 'xpub-meter', 'PRODUCTION', 0)"))  # fmt: skip
    assert database.migrate(engine, db.MIGRATIONS) == "0006"
    with engine.connect() as connection:
        row = connection.execute(text("SELECT automation, retire_priority FROM accounts JOIN meters "
                                      "ON meters.account = accounts.id")).one()  # fmt: skip
        assert tuple(row) == (False, 0)
        assert "sealed_datahub_token" not in list(connection.execute(text("SELECT * FROM accounts")).keys())
    engine.dispose()
