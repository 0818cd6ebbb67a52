"""The migrations build the schema the models describe, on an empty database, both ways."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import create_app, load_models
from core.db import make_engine


def run(url, *args):
    app = create_app({"DATABASE_URL": url})
    result = app.test_cli_runner().invoke(args=list(args))
    app.extensions["lendmatch.engine"].dispose()
    assert result.exit_code == 0, result.output
    return result.output


def differences(url):
    engine = make_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, load_models())
    engine.dispose()
    return diff


def tables(url):
    engine = make_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_upgrade_from_empty_matches_the_models_and_downgrades_cleanly(fresh_database_url):
    run(fresh_database_url, "db", "upgrade")
    assert tables(fresh_database_url) >= {"institutions", "products", "api_keys",
                                          "audit_entries", "applications", "routings",
                                          "routing_traces", "daily_usage",
                                          "catalogue_version"}
    assert differences(fresh_database_url) == []
    assert "(head)" in run(fresh_database_url, "db", "current")

    run(fresh_database_url, "db", "downgrade", "base")
    assert tables(fresh_database_url) <= {"alembic_version"}
    run(fresh_database_url, "db", "upgrade")
    assert differences(fresh_database_url) == []


def test_plain_alembic_works_too(fresh_database_url, monkeypatch):
    from alembic import command
    from alembic.config import Config

    monkeypatch.setenv("DATABASE_URL", fresh_database_url)
    command.upgrade(Config("alembic.ini"), "head")
    assert differences(fresh_database_url) == []
