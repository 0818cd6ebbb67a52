"""Funding an accepted offer, and the loan's repayment events, in order.

Retrying a call with the same body returns what the first one did (200) and changes
nothing; anything the loan's state does not allow is a 409 naming that state.
"""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import transaction
from core.errors import Conflict, InvalidInput
from core.ids import new_id
from core.principal import Principal
from feedback import events, lifecycle, states
from feedback.disclosure import own_loan, own_offer
from feedback.models import Event, EventType, Loan, LoanStatus, OfferStatus
from matching.models import ApplicationStatus

CLOCK_SKEW = timedelta(minutes=5)
EVENT_DATA = ("amount", "instalment", "days_past_due")
NEXT_STATUS = {
    "instalment_due": None,            # stays as it is
    "instalment_paid": LoanStatus.CURRENT,
    "past_due": LoanStatus.PAST_DUE,
    "paid_off": LoanStatus.PAID_OFF,
    "charged_off": LoanStatus.CHARGED_OFF,
}


def fund(session: Session, who: Principal, body: dict, *, request_hash: str,
         now: datetime) -> tuple[Loan, bool]:
    """Returns the loan and whether it was created now."""
    with transaction(session):
        offer = own_offer(session, who, body["offer_id"])
        application = lifecycle.lock_application(session, offer.application_id)
        existing = session.scalar(select(Loan).where(Loan.offer_id == offer.id))
        if existing is not None:
            if existing.request_hash == request_hash:
                return existing, False
            raise Conflict("this offer is already funded; a loan is funded once",
                           errors={"conflict": "offer_funded"})
        session.refresh(offer)
        if offer.status != OfferStatus.ACCEPTED:
            raise Conflict(f"the offer is {offer.status}; only an accepted offer can be "
                           f"funded", errors={"conflict": states.state_code("offer",
                                                                            offer.status)})
        errors = {}
        if body["amount"] > offer.amount:
            errors["amount"] = [f"more than the accepted offer's {offer.amount}"]
        if body["funded_at"] > now + CLOCK_SKEW:
            errors["funded_at"] = ["is in the future"]
        elif body["funded_at"] < offer.created_at - CLOCK_SKEW:
            errors["funded_at"] = ["is before the offer was made"]
        if errors:
            raise InvalidInput(errors)
        loan = Loan(id=new_id(), offer_id=offer.id, application_id=offer.application_id,
                    institution_id=offer.institution_id, product_id=offer.product_id,
                    amount=body["amount"], apr=offer.apr, term=offer.term,
                    term_unit=offer.term_unit, funded_at=body["funded_at"],
                    status=LoanStatus.CURRENT, days_past_due=0, max_days_past_due=0,
                    last_event_at=body["funded_at"], request_hash=request_hash,
                    created_at=now, updated_at=now)
        session.add(loan)
        states.move("application", application, ApplicationStatus.FUNDED)
        application.updated_at = now
        session.flush()
        events.append_rows(session, [events.of_offer(
            EventType.FUNDED, offer, body["funded_at"], loan_id=loan.id,
            data={"amount": loan.amount})])
    return loan, True


def record_event(session: Session, who: Principal, loan_id: str, body: dict, *,
                 now: datetime) -> tuple[Event, bool]:
    """Append a repayment event; returns it and whether it is new (an identical event
    already recorded is returned unchanged)."""
    data = {name: body[name] for name in EVENT_DATA if name in body}
    with transaction(session):
        loan = own_loan(session, who, loan_id)
        lifecycle.lock_application(session, loan.application_id)
        session.refresh(loan)
        for earlier in session.scalars(select(Event).where(
                Event.loan_id == loan.id, Event.type == body["type"],
                Event.at == body["at"])):
            if (earlier.data or {}) == data:
                return earlier, False
        if loan.status in (LoanStatus.PAID_OFF, LoanStatus.CHARGED_OFF):
            raise states.InvalidTransition(
                "loan", loan.status, body["type"],
                f"the loan is {loan.status}; nothing can follow")
        if body["at"] < loan.funded_at:
            raise Conflict(f"the event is dated before the loan was funded "
                           f"({loan.funded_at.isoformat()})",
                           errors={"conflict": "loan_not_yet_funded"})
        if body["at"] > now + CLOCK_SKEW:
            raise InvalidInput({"at": ["is in the future"]})
        _apply(loan, body, now)
        event = Event(**events.row(EventType(body["type"]), body["at"],
                                   application_id=loan.application_id, offer_id=loan.offer_id,
                                   loan_id=loan.id, institution_id=loan.institution_id,
                                   product_id=loan.product_id, data=data))
        session.add(event)
        session.flush()
    return event, True


def _apply(loan: Loan, body: dict, now: datetime) -> None:
    wanted = NEXT_STATUS[body["type"]] or loan.status
    states.move("loan", loan, wanted)
    if body["type"] == "past_due":
        loan.days_past_due = body["days_past_due"]
        loan.max_days_past_due = max(loan.max_days_past_due, body["days_past_due"])
    elif wanted != LoanStatus.PAST_DUE:
        loan.days_past_due = 0
    if wanted in (LoanStatus.PAID_OFF, LoanStatus.CHARGED_OFF):
        loan.closed_at = body["at"]
    loan.last_event_at = max(loan.last_event_at, body["at"])
    loan.updated_at = now


def loan_view(session: Session, loan: Loan) -> dict:
    history = session.scalars(select(Event).where(Event.loan_id == loan.id)
                              .order_by(Event.id)).all()
    return {**{c: getattr(loan, c) for c in (
        "id", "offer_id", "product_id", "status", "amount", "apr", "term", "term_unit",
        "funded_at", "days_past_due", "max_days_past_due", "closed_at")},
        "events": [event_view(e) for e in history]}


def event_view(event: Event) -> dict:
    data = event.data or {}
    return {"id": event.id, "loan_id": event.loan_id, "type": str(event.type), "at": event.at,
            "recorded_at": event.recorded_at, **{name: data.get(name) for name in EVENT_DATA}}
