"""An institution's decision on one routing: an offer, or a decline with reasons."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import transaction
from core.errors import Conflict, InvalidInput
from core.ids import new_id
from core.principal import Principal
from feedback import events, lifecycle, states
from feedback.disclosure import offer_view, own_routing, routing_for
from feedback.models import EventType, Offer, OfferStatus
from feedback.schemas import LONGEST_OFFER
from matching.models import Routing, RoutingStatus
from matching.routing_context import RoutingContext
from products.models import Product


class RoutingExpired(states.InvalidTransition):
    def __init__(self, routing: Routing):
        super().__init__("routing", RoutingStatus.EXPIRED, None,
                         f"the routing expired at {routing.decide_by.isoformat()}, the end "
                         f"of your decision SLA; it can no longer be decided")


def decide(session: Session, who: Principal, routing_id: str, body: dict, *,
           request_hash: str, apr_cap: float,
           context: RoutingContext) -> tuple[dict, bool]:
    """Record the decision; returns what the institution sees and whether it is new
    (``False``: the same decision was already recorded, nothing changed)."""
    now = context.clock()
    outcome = None
    with transaction(session):
        routing = own_routing(session, who, routing_id)
        application = lifecycle.lock_application(session, routing.application_id)
        session.refresh(routing)
        if routing.status == RoutingStatus.PENDING and now >= routing.decide_by:
            lifecycle.close_routings(session, [routing], RoutingStatus.EXPIRED, now)
            lifecycle.settle(session, application, context, now)
            outcome = "expired"
        elif routing.status != RoutingStatus.PENDING:
            if routing.decision_hash == request_hash:
                outcome = "repeated"
            elif routing.decision_hash is not None:
                raise Conflict(f"the routing was already decided ({routing.status}); a "
                               f"different decision cannot replace it",
                               errors={"conflict": states.state_code("routing",
                                                                     routing.status)})
            elif routing.status == RoutingStatus.EXPIRED:
                raise RoutingExpired(routing)
            else:
                raise states.InvalidTransition(
                    "routing", routing.status, None,
                    f"the routing was {routing.status}: the borrower took another offer")
        else:
            if body["decision"] == "approve":
                _approve(session, routing, body, request_hash, apr_cap, now)
            else:
                _decline(session, routing, body["reasons"], request_hash, now)
            lifecycle.settle(session, application, context, now)
    if outcome == "expired":
        raise RoutingExpired(routing)
    return decision_view(session, who, routing_id), outcome != "repeated"


def decision_view(session: Session, who: Principal, routing_id: str) -> dict:
    offer = session.scalar(select(Offer).where(Offer.routing_id == routing_id))
    return {"routing": routing_for(session, who, routing_id),
            "offer": offer_view(offer) if offer else None}


def _approve(session, routing: Routing, body: dict, request_hash: str, apr_cap: float,
             now: datetime) -> None:
    product = session.get(Product, routing.product_id)
    _check_offer_fits(product, body, apr_cap, now)
    offer = Offer(id=new_id(), routing_id=routing.id, application_id=routing.application_id,
                  institution_id=routing.institution_id, product_id=routing.product_id,
                  amount=body["amount"], apr=body["apr"], term=body["term"],
                  term_unit=body["term_unit"],
                  status=OfferStatus.OPEN, expires_at=body["offer_expires_at"],
                  created_at=now)
    session.add(offer)
    states.move("routing", routing, RoutingStatus.APPROVED)
    routing.decided_at, routing.decision_hash = now, request_hash
    session.flush()
    events.append_rows(session, [events.of_routing(
        EventType.APPROVED, routing, now, offer_id=offer.id,
        data={"amount": offer.amount, "apr": offer.apr, "term": offer.term,
              "term_unit": str(offer.term_unit),
              "expires_at": offer.expires_at.isoformat()})])


def _decline(session, routing: Routing, reasons: list[str], request_hash: str,
             now: datetime) -> None:
    states.move("routing", routing, RoutingStatus.DECLINED)
    routing.decided_at, routing.decision_hash = now, request_hash
    routing.decline_reasons = list(reasons)
    events.append_rows(session, [events.of_routing(EventType.DECLINED, routing, now,
                                                   data={"reasons": list(reasons)})])


def _check_offer_fits(product: Product, body: dict, apr_cap: float, now: datetime) -> None:
    """The offer must be one the product can make, under the APR cap (422 per field)."""
    errors = {}
    if not product.amount_min <= body["amount"] <= product.amount_max:
        errors["amount"] = [f"the product lends {product.amount_min}–{product.amount_max}"]
    if body["term_unit"] != product.term_unit:
        errors["term_unit"] = [f"the product's terms are in {product.term_unit}s"]
    elif not product.term_min <= body["term"] <= product.term_max:
        errors["term"] = [f"the product's terms are {product.term_min}–{product.term_max} "
                          f"{product.term_unit}s"]
    ceiling = min(product.apr_max, apr_cap)
    if not product.apr_min <= body["apr"] <= ceiling:
        errors["apr"] = [f"must be within {product.apr_min}–{ceiling} (the product's range "
                         f"and the APR cap {apr_cap})"]
    expires = body["offer_expires_at"]
    if expires <= now:
        errors["offer_expires_at"] = ["must be in the future"]
    elif expires > now + LONGEST_OFFER:
        errors["offer_expires_at"] = [f"at most {LONGEST_OFFER.days} days ahead"]
    if errors:
        raise InvalidInput(errors)
