"""``flask --app app expire`` and ``flask --app app deliver-webhooks [--loop]`` (the same
work the scheduler's ``expire`` and ``deliver-webhooks`` jobs do, by hand), and
``flask --app app check-invariants``."""

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from core.cli import uses_database
from core.db import get_session
from feedback import invariants, lifecycle
from feedback.disclosure import webhook_payload
from feedback.webhooks import Sender


@click.command("expire")
@with_appcontext
@uses_database
def expire_command() -> None:
    """Expire routings past their SLA and offers past their expiry, giving back capacity
    and routing the next wave where a whole wave ended without an approval."""
    context = current_app.extensions["lendmatch.routing"]
    counts = lifecycle.expire_due(get_session(), context, context.clock())
    click.echo(f"expired {counts['routings']} routings and {counts['offers']} offers "
               f"across {counts['applications']} applications")


@click.command("deliver-webhooks")
@click.option("--loop", is_flag=True, help="keep going, polling every --interval seconds")
@click.option("--interval", default=1.0, show_default=True, type=click.FloatRange(0.05))
@with_appcontext
@uses_database
def deliver_webhooks_command(loop: bool, interval: float) -> None:
    """Send the webhooks that are due, retrying failures with exponential backoff."""
    sender = Sender.from_config(current_app.config, current_app.extensions["lendmatch.sessions"],
                                webhook_payload)
    while True:
        counts = sender.run_once()
        if any(counts.values()):
            click.echo(f"delivered {counts['delivered']}, will retry {counts['retrying']}, "
                       f"gave up on {counts['failed']}")
        if not loop:
            return
        time.sleep(interval)


@click.command("check-invariants")
@with_appcontext
@uses_database
def check_invariants_command() -> None:
    """Check that the event log agrees with the state tables and the caps held; exits 1
    and names the offending ids if anything does not."""
    broken = 0
    for name, ids in invariants.check(get_session()).items():
        mark = "ok  " if not ids else "FAIL"
        click.echo(f"{mark} {name}" + (f": {', '.join(ids[:20])}" if ids else ""))
        broken += bool(ids)
    if broken:
        raise SystemExit(1)
