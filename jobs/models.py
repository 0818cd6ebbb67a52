"""The record of every job run, one row per job per scheduled slot."""

import enum
from datetime import datetime

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, enum_column
from feedback.models import SERIAL


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobRun(Base):
    __tablename__ = "job_runs"
    # A slot (the time a run was due, or "manual-<id>") runs at most once per job: a second
    # scheduler that wakes up for the same slot finds the row and leaves it.
    __table_args__ = (UniqueConstraint("job", "slot"), Index("ix_job_runs_job", "job", "id"))

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    slot: Mapped[str] = mapped_column(String(60))
    status: Mapped[RunStatus] = mapped_column(enum_column(RunStatus))
    runner: Mapped[str] = mapped_column(String(100))     # host:pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
