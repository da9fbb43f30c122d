"""Settings for the whole suite. Hypothesis runs derandomized (the same examples every run, so
a failure reproduces and CI is deterministic) and with no deadline: no test asserts how fast
anything ran, and a loaded machine must not fail one."""

import contextlib
import os

import pytest
from hypothesis import settings

from harness.scratch import scratch_database

POSTGRES = os.environ.get("ORIGIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")

settings.register_profile("origin", derandomize=True, deadline=None, database=None)
settings.load_profile("origin")


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request, tmp_path):
    """Makes a service's databases: SQLite files, or PostgreSQL databases made and
    dropped after the test."""
    with contextlib.ExitStack() as stack:
        made = []

        def make() -> str:
            made.append(None)
            if request.param == "sqlite":
                return f"sqlite:///{tmp_path / f'service-{len(made)}.db'}"
            return stack.enter_context(scratch_database(POSTGRES, "origin_test"))

        yield make


@pytest.fixture
def database_url(databases):
    return databases()


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    """The PostgreSQL server the tests make their scratch databases on."""
    return POSTGRES
