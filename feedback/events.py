"""Appending to the event log, in the same transaction as the transition it records."""

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.db import utcnow
from feedback.models import Event, EventType
from matching.models import Routing

_INSERT = insert(Event.__table__)
FIELDS = ("application_id", "routing_id", "offer_id", "loan_id", "institution_id",
          "product_id", "wave", "data")


def row(type_: EventType, at: datetime, **ids) -> dict:
    """An event as an insertable row; ``ids`` are any of ``FIELDS``."""
    unknown = set(ids) - set(FIELDS)
    if unknown:
        raise TypeError(f"not event fields: {sorted(unknown)}")
    return {"type": type_, "at": at, "recorded_at": utcnow(),
            **{name: ids.get(name) for name in FIELDS}}


def append(session: Session, type_: EventType, at: datetime, **ids) -> None:
    append_rows(session, [row(type_, at, **ids)])


def append_rows(session: Session, rows: list[dict]) -> None:
    if rows:
        session.connection().execute(_INSERT, rows)
        # What this transaction logged, for whoever counts events once it commits
        # (observability.metrics); cleared on rollback.
        session.info.setdefault(WRITTEN, []).extend(
            (r["type"], r["wave"], r["application_id"]) for r in rows)


WRITTEN = "lendmatch.events_written"


def of_routing(type_: EventType, routing, at: datetime, data: dict | None = None,
               **more) -> dict:
    return row(type_, at, application_id=routing.application_id, routing_id=routing.id,
               institution_id=routing.institution_id, product_id=routing.product_id,
               wave=routing.wave, data=data, **more)


def of_offer(type_: EventType, offer, at: datetime, data: dict | None = None, **more) -> dict:
    return row(type_, at, application_id=offer.application_id, routing_id=offer.routing_id,
               offer_id=offer.id, institution_id=offer.institution_id,
               product_id=offer.product_id, data=data, **more)


def for_application(session: Session, application_id: str) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.application_id == application_id)
                                .order_by(Event.id)))


def mark_delivered(session: Session, routing_ids: list[str], now: datetime, *,
                   via: str) -> None:
    """The institution has the routing (its webhook answered 2xx, or it pulled it from
    its inbox): record the first time only."""
    if not routing_ids:
        return
    first = session.execute(
        update(Routing).where(Routing.id.in_(routing_ids), Routing.delivered_at.is_(None))
        .values(delivered_at=now)
        .returning(Routing.id, Routing.application_id, Routing.institution_id,
                   Routing.product_id, Routing.wave)).all()
    append_rows(session, [row(EventType.DELIVERED, now, application_id=r.application_id,
                              routing_id=r.id, institution_id=r.institution_id,
                              product_id=r.product_id, wave=r.wave, data={"via": via})
                          for r in first])
