"""The database: declarative base, engine and per-request session, and transactions.

Views get the request's session with ``get_session()``; services own the transaction
(``with transaction(session): ...``); data-access functions just take a ``Session``.
"""

import enum
import random
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TypeVar

import orjson
from flask import Flask, current_app, g
from sqlalchemy import (
    DateTime,
    Engine,
    Enum,
    LargeBinary,
    MetaData,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; lendmatch stores aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class CompressedJSON(TypeDecorator):
    """A JSON document stored deflated, for large write-mostly records such as routing
    traces: several times smaller, and PostgreSQL does not parse it into JSONB on every
    insert (which cost more than the rest of a routing)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else zlib.compress(_to_json_bytes(value), 1)

    def process_result_value(self, value, dialect):
        return None if value is None else orjson.loads(zlib.decompress(value))


def enum_column(enum_type: type[enum.Enum], length: int = 20) -> Enum:
    """Enums stored as checked strings: portable, and new values need no type migration."""
    return Enum(enum_type, native_enum=False, create_constraint=True, length=length,
                validate_strings=True,
                values_callable=lambda e: [m.value for m in e])


def utcnow() -> datetime:
    return datetime.now(UTC)


def _to_json_bytes(value) -> bytes:
    # Routing writes several documents per decision; orjson encodes them several times
    # faster than the standard library.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def _to_json(value) -> str:
    return _to_json_bytes(value).decode()


def make_engine(url: str, **kwargs) -> Engine:
    kwargs.setdefault("json_serializer", _to_json)
    # Error messages must not carry applicants' data into the logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["lendmatch.engine"] = engine
    app.extensions["lendmatch.sessions"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions["lendmatch.engine"]


def new_session() -> Session:
    return current_app.extensions["lendmatch.sessions"]()


def get_session() -> Session:
    """The session of the current request or CLI command, opened on first use."""
    if "db_session" not in g:
        g.db_session = new_session()
    return g.db_session


def _close_session(_exc) -> None:
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.close()
    except DBAPIError:
        # The connection died (the database restarted) after the answer was made: the
        # rollback on close fails. Drop the connection from the pool rather than turn a
        # finished request into a 500.
        current_app.logger.warning("a database connection was lost at the end of a request")
        with suppress(DBAPIError):
            session.invalidate()


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit what the block did, or roll all of it back if the block raises."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


# PostgreSQL's deadlock_detected and serialization_failure: it aborted this transaction so
# that another could go on, and says running it again is expected to succeed.
CONFLICT_SQLSTATES = frozenset({"40P01", "40001"})
T = TypeVar("T")


def lost_a_conflict(error: BaseException) -> bool:
    return (isinstance(error, DBAPIError)
            and getattr(error.orig, "sqlstate", None) in CONFLICT_SQLSTATES)


def rerun_on_conflict(work: Callable[[], T], session: Session, *, attempts: int = 3,
                      on_rerun: Callable[[BaseException, int], None] = lambda e, n: None,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``work`` (whole transactions, safe to run again: the API's requests are, as
    clients already retry them) up to ``attempts`` times while the database aborts it to
    break a deadlock, rolling back and pausing 10-50 ms times the attempt in between so
    that the two do not collide again. Other errors, and the last conflict, propagate."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as error:
            if attempt == attempts or not lost_a_conflict(error):
                raise
            session.rollback()
            on_rerun(error, attempt + 1)
            sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")


@contextmanager
def migration_connection(engine: Engine):
    """A connection in a transaction for schema migrations. On SQLite, foreign keys are
    off meanwhile: changing a table there means rebuilding it, which a table that others
    reference would refuse; they are checked once the migration has committed."""
    with engine.connect() as connection:
        sqlite_db = connection.dialect.name == "sqlite"
        if sqlite_db:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                yield connection
            if sqlite_db:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                connection.commit()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite_db:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def insert_for(session: Session):
    """The dialect's ``insert`` (SQLite's or PostgreSQL's), for ``ON CONFLICT`` clauses,
    which both spell the same way."""
    return dialect_insert(session.get_bind().dialect.name)


def dialect_insert(dialect_name: str):
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


def page(session: Session, query, *, offset: int, limit: int) -> tuple[list, int]:
    """One page of an ordered select, and how many rows the whole select has."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = session.scalars(query.offset(offset).limit(limit)).all()
    return list(rows), total
