import os
import uuid

import psycopg
import pytest

POSTGRES = os.environ.get("ORIGIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """The DataHub service's database: a SQLite file, or a PostgreSQL database made and dropped."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'datahub.db'}"
        return
    name = f"origin_test_{uuid.uuid4().hex}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
