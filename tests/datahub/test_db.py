"""The DataHub service's schema comes from numbered migrations (Alembic), on both backends: the
migrated schema is exactly what the code's tables declare, and a database made before
migrations existed is taken up where it is."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from origin.datahub import db


def sqlalchemy_url(database_url: str) -> str:
    return database_url.replace("postgresql://", "postgresql+psycopg://", 1)


def test_the_migrations_make_the_declared_schema(database_url):
    engine = db.connect(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
        assert MigrationContext.configure(connection).get_current_revision() == db.migrate(engine)
    engine.dispose()


def test_migrating_twice_changes_nothing(database_url):
    first = db.connect(database_url)
    head = db.migrate(first)
    first.dispose()
    again = db.connect(database_url)
    assert db.migrate(again) == head
    again.dispose()


def test_a_database_made_before_migrations_is_taken_up(database_url):
    """The service used to create its tables as revision 0001 has them, without a version."""
    engine = create_engine(sqlalchemy_url(database_url))
    config = AlembicConfig()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text("DROP TABLE alembic_version"))
    assert "alembic_version" not in inspect(engine).get_table_names()
    engine.dispose()
    engine = db.connect(database_url)
    assert "alembic_version" in inspect(engine).get_table_names()
    engine.dispose()


def test_the_address_index_goes_and_every_measurement_stays(database_url):
    """Revision 0007 remakes the measurements table on SQLite (its unique constraint has no name)."""
    engine = create_engine(sqlalchemy_url(database_url))
    config = AlembicConfig()
    config.set_main_option("script_location", str(db.MIGRATIONS))
    row = {"g": "571313100000000001", "a": "fbb4f9" + "1" * 64}
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        connection.execute(text("INSERT INTO meters (gsrn, type, owner) VALUES (:g, 'PRODUCTION', 'o')"), row)
        connection.execute(text("INSERT INTO measurements (gsrn, begin_s, end_s, amount_wh, address, batch, seq) "
                                "VALUES (:g, 0, 900, 5, :a, 'b', 7)"), row)  # fmt: skip
    engine.dispose()
    engine = db.connect(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT gsrn, address, batch, seq FROM measurements")).fetchall() == [
            (row["g"], row["a"], "b", 7)]  # fmt: skip
        unique = inspect(connection).get_unique_constraints("measurements")
        assert not [u for u in unique if u["column_names"] == ["address"]]
    engine.dispose()
