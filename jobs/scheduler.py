"""The scheduler process: ``flask --app app scheduler``. APScheduler runs here and only
here; web workers never start it (under gunicorn every worker would run every job)."""

from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from jobs import runner
from jobs.registry import JOBS, Job


def build(app: Flask, *, echo=print) -> BlockingScheduler:
    zone = app.extensions["lendmatch.routing"].cap_timezone
    scheduler = BlockingScheduler(timezone=UTC)
    for job in JOBS.values():
        if job.at_local_midnight:
            trigger = CronTrigger(hour=0, minute=0, timezone=zone)
        else:
            trigger = IntervalTrigger(seconds=job.every_seconds, timezone=UTC)
        scheduler.add_job(_fire, trigger, args=(app, job, echo), id=job.name, name=job.name,
                          max_instances=1, coalesce=True, misfire_grace_time=60,
                          next_run_time=datetime.now(UTC))
    return scheduler


def slot_for(app: Flask, job: Job, now: datetime) -> str:
    if job.at_local_midnight:
        zone = app.extensions["lendmatch.routing"].cap_timezone
        return "day-" + now.astimezone(zone).date().isoformat()
    return runner.slot_of(job.every_seconds, now)


def _fire(app: Flask, job: Job, echo) -> None:
    now = app.extensions["lendmatch.routing"].clock()
    outcome = runner.run(app, job.name, slot=slot_for(app, job, now), now=now)
    if outcome.status != "already_ran":
        echo(f"{now.isoformat()} {job.name} [{outcome.slot}] {outcome.status} "
             f"{outcome.summary if outcome.summary is not None else outcome.error or ''}")
