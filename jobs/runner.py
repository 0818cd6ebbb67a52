"""Running one job once: at most one runner at a time, and at most once per slot.

* **Lock**: on PostgreSQL a session-level advisory lock per job
  (``pg_try_advisory_lock``) on a connection of its own, so a second scheduler, on this
  host or another, skips a job that is running rather than waiting for it. A no-op on
  SQLite, whose single writer serialises jobs anyway.
* **Slot**: each scheduled firing has a slot (the start of its interval, in UTC); the run
  is recorded in ``job_runs`` under ``(job, slot)``, unique, before the job starts. A
  second scheduler waking for the same slot finds the row and leaves it, so a job never
  runs twice for one slot. ``jobs run NAME`` uses a fresh slot of its own.
"""

import hashlib
import os
import socket
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.db import transaction
from core.ids import new_id
from jobs.models import JobRun, RunStatus
from jobs.registry import JOBS


@dataclass(frozen=True)
class Outcome:
    job: str
    slot: str
    status: str          # done, failed, locked (another runner has it), already_ran
    summary: dict | None = None
    error: str | None = None


def lock_key(name: str) -> int:
    """A stable signed 64-bit key per job, the same in every process."""
    digest = hashlib.sha256(f"lendmatch-job:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def slot_of(every_seconds: int, now: datetime) -> str:
    """The start of the interval ``now`` falls in: the same for every scheduler."""
    start = int(now.timestamp()) // every_seconds * every_seconds
    return datetime.fromtimestamp(start, UTC).isoformat()


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def run(app: Flask, name: str, *, slot: str | None = None,
        now: datetime | None = None) -> Outcome:
    job = JOBS[name]
    context = app.extensions["lendmatch.routing"]
    now = now or context.clock()
    slot = slot or f"manual-{new_id()}"
    engine = app.extensions["lendmatch.engine"]
    sessions = app.extensions["lendmatch.sessions"]
    with app.app_context(), engine.connect() as lock_connection:
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            got = lock_connection.execute(select(func.pg_try_advisory_lock(lock_key(name))))
            lock_connection.commit()
            if not got.scalar():
                return Outcome(name, slot, "locked")
        try:
            if postgres:
                _close_abandoned(sessions, name, context.clock())
            with sessions() as session:
                try:
                    with transaction(session):
                        record = JobRun(job=name, slot=slot, status=RunStatus.RUNNING,
                                        runner=runner_id(), started_at=context.clock())
                        session.add(record)
                except IntegrityError:
                    return Outcome(name, slot, "already_ran")
            with sessions() as session:
                try:
                    summary = job.run(app, session, now)
                    status, error = RunStatus.DONE, None
                except Exception:
                    session.rollback()
                    summary, status = None, RunStatus.FAILED
                    error = traceback.format_exc(limit=8)
                    app.logger.exception("job %s (slot %s) failed", name, slot)
                with transaction(session):
                    row = session.get(JobRun, record.id)
                    row.status, row.summary, row.error = status, _jsonable(summary), error
                    row.finished_at = context.clock()
            return Outcome(name, slot, str(status), _jsonable(summary), error)
        finally:
            if postgres:
                lock_connection.execute(select(func.pg_advisory_unlock(lock_key(name))))
                lock_connection.commit()


def _close_abandoned(sessions, name: str, now: datetime) -> None:
    """Runs of this job still marked running belong to a runner that died mid-run (killed,
    or its host lost): while it lived it held the lock we now hold. Mark them failed."""
    with sessions() as session, transaction(session):
        session.execute(update(JobRun).where(JobRun.job == name,
                                             JobRun.status == RunStatus.RUNNING)
                        .values(status=RunStatus.FAILED, finished_at=now,
                                error="abandoned: the runner stopped before the job finished"))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def recent(session, name: str | None = None, limit: int = 20) -> list[JobRun]:
    query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
    if name:
        query = query.where(JobRun.job == name)
    return list(session.scalars(query))
