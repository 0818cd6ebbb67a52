"""Requests per API key per minute, counted in the database so that the limit holds across
every worker on every host.

One fixed one-minute window per key: a row ``(key_id, window)`` counted up with an upsert
in a short transaction of its own (the request's own transaction may roll back; the count
must not). On PostgreSQL that transaction skips waiting for its WAL flush: losing a few
counts in a crash is harmless, and a flush per request is not. A key's first request in a
new window deletes its older windows, so the table holds about one row per active key.
"""

import math
import time

from sqlalchemy import BigInteger, Engine, Integer, delete
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, dialect_insert
from core.errors import RateLimited

WINDOW_SECONDS = 60


class RateWindow(Base):
    __tablename__ = "rate_windows"

    key_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    requests: Mapped[int] = mapped_column(Integer, default=0)


def take(engine: Engine, key_id: int, limit: int, now: float | None = None) -> None:
    """Count one request for ``key_id``; raise ``RateLimited`` once it is over ``limit`` this
    window. A ``limit`` of 0 turns the limit off."""
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    insert = dialect_insert(engine.dialect.name)(RateWindow.__table__)
    upsert = insert.values(key_id=key_id, window=window, requests=1).on_conflict_do_update(
        index_elements=["key_id", "window"],
        set_={"requests": RateWindow.__table__.c.requests + 1},
    ).returning(RateWindow.__table__.c.requests)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        count = connection.execute(upsert).scalar_one()
        if count == 1:
            connection.execute(delete(RateWindow).where(RateWindow.key_id == key_id,
                                                        RateWindow.window < window))
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        raise RateLimited(limit, retry_after)
