"""``flask --app app scheduler``, ``flask --app app jobs list`` and
``flask --app app jobs run NAME``."""

import json

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from core.cli import uses_database
from core.db import get_session
from jobs import runner, scheduler
from jobs.registry import JOBS

jobs_group = AppGroup("jobs", help="The scheduler's jobs: list them, or run one now.")


@jobs_group.command("list")
@with_appcontext
@uses_database
def list_command() -> None:
    """Each job, its schedule, and its last run."""
    session = get_session()
    for job in JOBS.values():
        [last] = runner.recent(session, job.name, 1) or [None]
        when = (f"last {last.status} at {last.started_at.isoformat()}" if last
                else "never run")
        click.echo(f"{job.name:<18} {job.schedule:<24} {when}  — {job.description}")


@jobs_group.command("run")
@click.argument("name", type=click.Choice(sorted(JOBS)))
@with_appcontext
@uses_database
def run_command(name: str) -> None:
    """Run one job now (under its lock, in a slot of its own); exits 1 if it failed."""
    click.echo(f"running {name} …")
    outcome = runner.run(current_app._get_current_object(), name)
    click.echo(f"{name}: {outcome.status}")
    if outcome.summary is not None:
        click.echo(json.dumps(outcome.summary, indent=2, sort_keys=True, default=str))
    if outcome.status == "locked":
        click.echo("another runner holds this job's lock; nothing was done")
    if outcome.error:
        click.echo(outcome.error, err=True)
        raise SystemExit(1)


@click.command("scheduler")
@with_appcontext
@uses_database
def scheduler_command() -> None:
    """Run the scheduler in this process until interrupted. Run exactly one per
    deployment (a second one is harmless: locks and slots keep every job to one run)."""
    app = current_app._get_current_object()
    click.echo("scheduler: " + ", ".join(f"{j.name} ({j.schedule})" for j in JOBS.values()))
    try:
        scheduler.build(app, echo=click.echo).start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("scheduler stopped")
