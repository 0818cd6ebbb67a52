"""Checks that the event log and the state tables tell the same story, and that the
marketplace's promises hold: ``flask --app app check-invariants``.

Each check is one query returning the ids that break it; an empty list means all hold.
"""

from collections.abc import Callable

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from feedback.models import Event, EventType, Loan, LoanStatus, Offer, OfferStatus
from lenders.models import Institution
from matching.models import Application, ApplicationStatus, DailyUsage, Routing, RoutingStatus
from products.models import Product

E, R, OS = EventType, RoutingStatus, OfferStatus

ROUTING_END = {R.APPROVED: E.APPROVED, R.DECLINED: E.DECLINED,
               R.EXPIRED: E.ROUTING_EXPIRED, R.WITHDRAWN: E.ROUTING_WITHDRAWN}
OFFER_END = {OS.ACCEPTED: E.OFFER_ACCEPTED, OS.WITHDRAWN: E.OFFER_WITHDRAWN,
             OS.EXPIRED: E.OFFER_EXPIRED}
LOAN_END = {LoanStatus.PAID_OFF: E.PAID_OFF, LoanStatus.CHARGED_OFF: E.CHARGED_OFF}
# A reservation is held by every routing except one given back.
HOLDS_CAPACITY = (R.PENDING, R.APPROVED, R.DECLINED)


def _events(type_, column):
    return (select(column, func.count().label("n")).where(Event.type == type_)
            .group_by(column).subquery())


def _count_is_not(session, table, key, event_type, event_column, wanted, where=True):
    """Rows of ``table`` whose number of ``event_type`` events is not ``wanted`` (0 or 1)."""
    counts = _events(event_type, event_column)
    n = func.coalesce(counts.c.n, 0)
    return list(session.scalars(
        select(key).select_from(table).outerjoin(counts, counts.c[event_column.key] == key)
        .where(where, n != wanted)))


def routings_routed_once(session):
    return _count_is_not(session, Routing, Routing.id, E.ROUTED, Event.routing_id, 1)


def routing_ends_logged(session):
    broken = []
    for status, event_type in ROUTING_END.items():
        broken += _count_is_not(session, Routing, Routing.id, event_type, Event.routing_id,
                                1, Routing.status == status)
        broken += _count_is_not(session, Routing, Routing.id, event_type, Event.routing_id,
                                0, Routing.status != status)
    return broken


def offer_ends_logged(session):
    broken = []
    for status, event_type in OFFER_END.items():
        broken += _count_is_not(session, Offer, Offer.id, event_type, Event.offer_id, 1,
                                Offer.status == status)
        broken += _count_is_not(session, Offer, Offer.id, event_type, Event.offer_id, 0,
                                Offer.status != status)
    return broken


def loans_logged(session):
    broken = _count_is_not(session, Loan, Loan.id, E.FUNDED, Event.loan_id, 1)
    for status, event_type in LOAN_END.items():
        broken += _count_is_not(session, Loan, Loan.id, event_type, Event.loan_id, 1,
                                Loan.status == status)
        broken += _count_is_not(session, Loan, Loan.id, event_type, Event.loan_id, 0,
                                Loan.status != status)
    return broken


def one_accepted_offer(session):
    """Accepted and funded applications have exactly one accepted offer; no other has."""
    accepted = (select(Offer.application_id, func.count().label("n"))
                .where(Offer.status == OS.ACCEPTED).group_by(Offer.application_id).subquery())
    n = func.coalesce(accepted.c.n, 0)
    taken = Application.status.in_([ApplicationStatus.ACCEPTED, ApplicationStatus.FUNDED])
    return list(session.scalars(
        select(Application.id).outerjoin(accepted, accepted.c.application_id == Application.id)
        .where(or_(and_(taken, n != 1), and_(~taken, n != 0)))))


def applications_accounted_for(session):
    """No application lost: each one was routed somewhere, or ended no_match."""
    routed = select(Routing.id).where(Routing.application_id == Application.id).exists()
    return list(session.scalars(select(Application.id).where(
        Application.status != ApplicationStatus.NO_MATCH, ~routed)))


def funded_has_loan(session):
    funded = Application.status == ApplicationStatus.FUNDED
    return list(session.scalars(
        select(Application.id).outerjoin(Loan, Loan.application_id == Application.id)
        .where(or_(and_(funded, Loan.id.is_(None)), and_(~funded, Loan.id.is_not(None))))))


def application_ends_logged(session):
    broken = []
    for status, event_type in ((ApplicationStatus.NO_MATCH, E.NO_MATCH),
                               (ApplicationStatus.EXPIRED, E.APPLICATION_EXPIRED)):
        broken += _count_is_not(session, Application, Application.id, event_type,
                                Event.application_id, 1, Application.status == status)
        broken += _count_is_not(session, Application, Application.id, event_type,
                                Event.application_id, 0, Application.status != status)
    return broken


def capacity_agrees(session):
    """Each daily counter equals the routings holding a reservation on it, and none is over
    its cap."""
    broken = []
    for scope, column, cap in (("product", Routing.product_id, Product.daily_application_cap),
                               ("institution", Routing.institution_id,
                                Institution.daily_application_cap)):
        held = {f"{day}/{object_id}": count for day, object_id, count in session.execute(
            select(Routing.capacity_day, column, func.count())
            .where(Routing.status.in_(HOLDS_CAPACITY))
            .group_by(Routing.capacity_day, column))}
        owner = Product if scope == "product" else Institution
        for day, object_id, used, limit in session.execute(
                select(DailyUsage.day, DailyUsage.object_id, DailyUsage.applications, cap)
                .join(owner, owner.id == DailyUsage.object_id)
                .where(DailyUsage.scope == scope)):
            key = f"{day}/{object_id}"
            if used != held.pop(key, 0) or (limit is not None and used > limit):
                broken.append(f"{scope}:{key}")
        broken += [f"{scope}:{key}" for key, count in held.items() if count]
    return broken


CHECKS: dict[str, Callable[[Session], list]] = {
    "every application was routed or ended no_match": applications_accounted_for,
    "every routing has one routed event": routings_routed_once,
    "every decided or closed routing has its one event": routing_ends_logged,
    "every closed offer has its one event": offer_ends_logged,
    "every loan has its funded and closing events": loans_logged,
    "accepted applications have exactly one accepted offer": one_accepted_offer,
    "funded applications have a loan, others none": funded_has_loan,
    "no_match and expired applications have their one event": application_ends_logged,
    "daily counters match the routings holding them and stay within caps": capacity_agrees,
}


def check(session: Session) -> dict[str, list]:
    """Every check's violations (ids), by name; all lists empty when everything holds."""
    return {name: [str(x) for x in run(session)] for name, run in CHECKS.items()}
