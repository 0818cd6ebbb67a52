"""Command-line tools: ``flask --app app db upgrade``, ``create-key``, ``revoke-key``."""

import functools
from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import OperationalError, ProgrammingError

from core import db as database
from core import keys
from core.errors import LendmatchError
from core.principal import Role, command_line


def uses_database(command):
    """Turn "no such table" and an unreachable database into a one-line hint."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (OperationalError, ProgrammingError) as error:
            raise click.ClickException(
                f"the database is unreachable or not migrated ({error.orig}); "
                "run `flask --app app db upgrade` first") from None

    return wrapper


db_group = AppGroup("db", help="Database schema migrations (Alembic).")


def alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location",
                           str(Path(current_app.root_path) / "migrations"))
    config.attributes["connection"] = connection
    return config


def _with_connection(action) -> None:
    with database.migration_connection(database.engine()) as connection:
        action(alembic_config(connection))


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    _with_connection(lambda config: command.upgrade(config, revision))
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (``base`` empties it)."""
    _with_connection(lambda config: command.downgrade(config, revision))
    click.echo(f"database at {revision}")


@db_group.command("current")
def current() -> None:
    """Show the database's migration revision, and whether it is the newest."""
    with database.engine().connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        click.echo(f"empty: no migration applied (head is {head})")
    else:
        click.echo(f"{revision} (head)" if revision == head else f"{revision} (head is {head})")


@click.command("create-key")
@with_appcontext
@uses_database
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--institution", "institution_id", type=int,
              help="the institution an institution key speaks for")
@click.option("--label", default="", help="a note on who holds the key")
def create_key(role: str, institution_id: int | None, label: str) -> None:
    """Create an API key and print it (alone, on the last line). It is shown only once."""
    try:
        row, key = keys.create(database.get_session(), command_line("create-key"), Role(role),
                               institution_id, label)
    except LendmatchError as error:
        raise click.ClickException(_describe(error)) from None
    click.echo(f"key {row.id} ({role}) created; it will not be shown again:")
    click.echo(key)


@click.command("revoke-key")
@with_appcontext
@uses_database
@click.argument("key_id", type=int)
def revoke_key(key_id: int) -> None:
    """Revoke an API key by its id."""
    try:
        keys.revoke(database.get_session(), command_line("revoke-key"), key_id)
    except LendmatchError as error:
        raise click.ClickException(_describe(error)) from None
    click.echo(f"key {key_id} revoked")


def _describe(error: LendmatchError) -> str:
    if not error.errors:
        return error.message
    details = "; ".join(f"{field}: {' '.join(map(str, problems))}"
                        for fields in error.errors.values()
                        for field, problems in fields.items())
    return f"{error.message}: {details}"
