"""Alembic environment. Run through ``flask --app app db upgrade`` (which hands over a
connection) or plain ``alembic upgrade head`` (which builds the app's configuration)."""

from logging.config import fileConfig

from alembic import context

from app import create_app, load_models
from core.db import make_engine, migration_connection

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = load_models()


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = create_app().config["DATABASE_URL"]
    with migration_connection(make_engine(url)) as connection:
        run(connection)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_online()
