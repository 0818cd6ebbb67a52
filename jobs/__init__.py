"""Scheduled jobs (models, weights, capacity prices, expiry, daily caps, funnels,
webhooks), run by one dedicated scheduler process or on demand from the command line."""

from flask import Flask


def init_app(app: Flask) -> None:
    from jobs.cli import jobs_group, scheduler_command

    app.cli.add_command(jobs_group)
    app.cli.add_command(scheduler_command)
