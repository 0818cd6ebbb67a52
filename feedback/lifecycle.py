"""How an application moves on after each change to its routings and offers: the next
wave when a whole wave was declined or expired, ``no_match`` when none is left, and the
expiry of undecided routings and lapsed offers.

Every change to an application's routings and offers happens with the application's row
locked (``lock_application``), so two institutions deciding at once cannot both see the
other still pending and leave a finished wave without a cascade.
"""

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.db import rerun_on_conflict, transaction
from feedback import events, states, webhooks
from feedback.models import EventType, Offer, OfferStatus
from matching import capacity
from matching.models import Application, ApplicationStatus, Routing, RoutingStatus
from matching.routing_context import RoutingContext
from matching.service import route_next_wave

A, R = ApplicationStatus, RoutingStatus
FINISHED = (A.ACCEPTED, A.FUNDED, A.NO_MATCH, A.EXPIRED)
WAVES_EXHAUSTED, NO_ELIGIBLE_PRODUCT, OFFERS_EXPIRED = (
    "waves_exhausted", "no_eligible_product", "offers_expired")


def lock_application(session: Session, application_id: str) -> Application:
    """Lock the application's row to the end of the transaction (PostgreSQL: FOR UPDATE).
    SQLite has no row locks: a first write takes its one database write lock, which
    orders this transaction after every other writer's just the same."""
    if session.get_bind().dialect.name == "sqlite":
        table = Application.__table__
        session.connection().execute(update(table).where(table.c.id == application_id)
                                     .values(updated_at=table.c.updated_at))
    return session.execute(
        select(Application).where(Application.id == application_id)
        .with_for_update().execution_options(populate_existing=True)).scalar_one()


def settle(session: Session, application: Application, context: RoutingContext,
           now: datetime) -> None:
    """Bring the application's status in line with its routings and offers."""
    while application.status not in FINISHED:
        wave = dict(session.execute(
            select(Routing.status, func.count()).where(
                Routing.application_id == application.id,
                Routing.wave == application.wave).group_by(Routing.status)).all())
        open_offers = session.scalar(select(func.count()).select_from(Offer).where(
            Offer.application_id == application.id, Offer.status == OfferStatus.OPEN))
        if open_offers:
            _set(application, A.OFFERED, now)
        elif wave.get(R.PENDING):
            _set(application, A.ROUTED, now)
        elif wave.get(R.APPROVED):
            _finish(session, application, A.EXPIRED, OFFERS_EXPIRED, now,
                    EventType.APPLICATION_EXPIRED)
        elif application.wave >= context.max_waves:
            _finish(session, application, A.NO_MATCH, WAVES_EXHAUSTED, now,
                    EventType.NO_MATCH)
        else:
            if not route_next_wave(session, application, context, now):
                _finish(session, application, A.NO_MATCH, NO_ELIGIBLE_PRODUCT, now,
                        EventType.NO_MATCH)
            else:
                _set(application, A.ROUTED, now)
            continue
        return


def _set(application: Application, status: ApplicationStatus, now: datetime) -> None:
    if application.status != status:
        states.move("application", application, status)
        application.updated_at = now


def _finish(session, application, status, reason, now, event_type) -> None:
    _set(application, status, now)
    application.end_reason = reason
    events.append(session, event_type, now, application_id=application.id,
                  wave=application.wave, data={"reason": reason})


def close_routings(session: Session, routings: list[Routing], status: RoutingStatus,
                   now: datetime) -> None:
    """Expire or withdraw pending routings: the capacity they reserved is given back (in
    one pass, see ``capacity.release``), each institution is told, and the events logged."""
    if not routings:
        return
    for routing in routings:
        states.move("routing", routing, status)
    capacity.release(session, [(r.capacity_day, r.product_id, r.institution_id)
                               for r in routings])
    expired = status == R.EXPIRED
    events.append_rows(session, [events.of_routing(
        EventType.ROUTING_EXPIRED if expired else EventType.ROUTING_WITHDRAWN, r, now)
        for r in routings])
    for routing in routings:
        webhooks.notify(session, routing.institution_id,
                        webhooks.ROUTING_EXPIRED if expired else webhooks.ROUTING_WITHDRAWN,
                        routing.id, now)


def close_offer(session: Session, offer: Offer, status: OfferStatus, now: datetime) -> None:
    states.move("offer", offer, status)
    offer.closed_at = now
    kind = EventType.OFFER_EXPIRED if status == OfferStatus.EXPIRED else (
        EventType.OFFER_WITHDRAWN)
    events.append_rows(session, [events.of_offer(kind, offer, now)])
    webhooks.notify(session, offer.institution_id,
                    webhooks.OFFER_EXPIRED if status == OfferStatus.EXPIRED
                    else webhooks.OFFER_WITHDRAWN, offer.id, now)


def expire_due(session: Session, context: RoutingContext, now: datetime, *,
               application_id: str | None = None,
               institution_id: int | None = None) -> dict[str, int]:
    """Expire routings past their SLA and offers past their expiry (all, or one
    application's, or those of applications routed to one institution), one
    application per transaction, cascading where a wave ends. Idempotent."""
    due = select(Routing.application_id).where(Routing.status == R.PENDING,
                                               Routing.decide_by <= now)
    lapsed = select(Offer.application_id).where(Offer.status == OfferStatus.OPEN,
                                                Offer.expires_at <= now)
    if application_id is not None:
        due = due.where(Routing.application_id == application_id)
        lapsed = lapsed.where(Offer.application_id == application_id)
    if institution_id is not None:
        due = due.where(Routing.institution_id == institution_id)
        lapsed = lapsed.where(Offer.institution_id == institution_id)
    applications = sorted(set(session.scalars(due)) | set(session.scalars(lapsed)))
    session.rollback()  # end the read; each application gets its own transaction
    counts = defaultdict(int)
    for one in applications:
        def expire_one(application_id=one):
            with transaction(session):
                return _expire_application(session, application_id, context, now)

        for key, value in rerun_on_conflict(expire_one, session).items():
            counts[key] += value
    return {"applications": len(applications), "routings": counts["routings"],
            "offers": counts["offers"]}


def _expire_application(session, application_id, context, now) -> dict[str, int]:
    application = lock_application(session, application_id)
    routings = session.scalars(select(Routing).where(
        Routing.application_id == application_id, Routing.status == R.PENDING,
        Routing.decide_by <= now)).all()
    offers = session.scalars(select(Offer).where(
        Offer.application_id == application_id, Offer.status == OfferStatus.OPEN,
        Offer.expires_at <= now)).all()
    close_routings(session, routings, R.EXPIRED, now)
    for offer in offers:
        close_offer(session, offer, OfferStatus.EXPIRED, now)
    settle(session, application, context, now)
    return {"routings": len(routings), "offers": len(offers)}


def has_due(session: Session, application_id: str, now: datetime) -> bool:
    """Whether anything of this application is past its time (a cheap check on read)."""
    return session.scalar(select(
        select(Routing.id).where(Routing.application_id == application_id,
                                 Routing.status == R.PENDING, Routing.decide_by <= now)
        .union_all(select(Offer.id).where(Offer.application_id == application_id,
                                          Offer.status == OfferStatus.OPEN,
                                          Offer.expires_at <= now))
        .exists())) or False

