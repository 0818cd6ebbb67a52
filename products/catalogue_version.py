"""The catalogue version: one counter bumped in the same transaction as every change to
an institution or product, so that each web worker can tell, with one cheap read, that
its compiled routing arrays are stale and must be rebuilt."""

from sqlalchemy import BigInteger, CheckConstraint, Integer, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from core.db import Base, insert_for
from lenders.models import Institution
from products.models import Product


class CatalogueVersion(Base):
    __tablename__ = "catalogue_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


_CURRENT = select(CatalogueVersion.__table__.c.version).where(
    CatalogueVersion.__table__.c.id == 1)


def current(session: Session) -> int:
    """The committed version as this session sees it (0 before the first change). Read on
    every routing request, so a Core statement built once."""
    return session.connection().execute(_CURRENT).scalar() or 0


def bump(session: Session) -> None:
    """Increase the version; one upsert, atomic under concurrent writers on both databases
    (on PostgreSQL the row lock also orders concurrent catalogue changes)."""
    table = CatalogueVersion.__table__
    statement = insert_for(session)(table).values(id=1, version=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.id], set_={"version": table.c.version + 1})
    session.connection().execute(statement)


def track_changes(sessions: sessionmaker) -> None:
    """Bump the version whenever a flush writes an institution or a product, whichever
    code path made the change (API, seeding, the ops console)."""
    event.listen(sessions, "after_flush", _bump_if_catalogue_changed)


def _bump_if_catalogue_changed(session: Session, _context) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, Institution | Product) for obj in touched):
        bump(session)
