"""The borrower side: the offers on an application, best for the borrower first, and
taking one.

Order: open offers first, then by total cost of credit (lowest first), then APR (lowest),
then amount (highest), then the earliest made.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import transaction
from core.errors import NotFound
from core.principal import Principal
from feedback import costs, events, lifecycle, states, webhooks
from feedback.models import EventType, Offer, OfferStatus
from lenders.models import Institution
from matching.models import ApplicationStatus, Routing, RoutingStatus
from matching.routing_context import RoutingContext
from matching.service import get_visible
from products.models import Product


def expire_if_due(session: Session, application_id: str, context: RoutingContext) -> None:
    """Offers and routings past their time are expired on read too, not only by the job."""
    now = context.clock()
    if lifecycle.has_due(session, application_id, now):
        lifecycle.expire_due(session, context, now, application_id=application_id)
    else:
        session.rollback()


def borrower_order(offer: dict) -> tuple:
    return (offer["status"] != OfferStatus.OPEN, offer["total_cost"], offer["apr"],
            -offer["amount"], offer["created_at"], offer["id"])


def list_for_borrower(session: Session, who: Principal, application_id: str,
                      context: RoutingContext) -> list[dict]:
    get_visible(session, who, application_id)
    expire_if_due(session, application_id, context)
    rows = session.execute(
        select(Offer, Institution.name, Product.name)
        .join(Institution, Institution.id == Offer.institution_id)
        .join(Product, Product.id == Offer.product_id)
        .where(Offer.application_id == application_id)).all()
    return sorted((_borrower_view(offer, institution, product)
                   for offer, institution, product in rows), key=borrower_order)


def _borrower_view(offer: Offer, institution_name: str, product_name: str) -> dict:
    instalment, total_cost = costs.of_offer(offer)
    return {"id": offer.id, "status": offer.status,
            "institution": {"id": offer.institution_id, "name": institution_name},
            "product": {"id": offer.product_id, "name": product_name},
            "amount": offer.amount, "apr": offer.apr, "term": offer.term,
            "term_unit": offer.term_unit, "instalment": instalment,
            "total_cost": total_cost, "total_repayable": round(offer.amount + total_cost, 2),
            "expires_at": offer.expires_at, "created_at": offer.created_at}


def accept(session: Session, who: Principal, application_id: str, offer_id: str,
           context: RoutingContext) -> dict:
    """Take one offer: every other open offer is withdrawn, every undecided routing too
    (its capacity given back), and each institution is told. Accepting the accepted
    offer again changes nothing."""
    get_visible(session, who, application_id)
    expire_if_due(session, application_id, context)
    now = context.clock()
    with transaction(session):
        application = lifecycle.lock_application(session, application_id)
        offer = session.get(Offer, offer_id, populate_existing=True)
        if offer is None or offer.application_id != application_id:
            raise NotFound(f"no offer {offer_id} on application {application_id}")
        if offer.status != OfferStatus.ACCEPTED:
            states.move("offer", offer, OfferStatus.ACCEPTED,
                        f"the offer is {offer.status}; only an open offer can be accepted")
            offer.closed_at = now
            events.append_rows(session, [events.of_offer(EventType.OFFER_ACCEPTED, offer,
                                                         now)])
            webhooks.notify(session, offer.institution_id, webhooks.OFFER_ACCEPTED,
                            offer.id, now)
            for other in session.scalars(select(Offer).where(
                    Offer.application_id == application_id, Offer.id != offer.id,
                    Offer.status == OfferStatus.OPEN)):
                lifecycle.close_offer(session, other, OfferStatus.WITHDRAWN, now)
            lifecycle.close_routings(session, session.scalars(select(Routing).where(
                Routing.application_id == application_id,
                Routing.status == RoutingStatus.PENDING)).all(), RoutingStatus.WITHDRAWN, now)
            states.move("application", application, ApplicationStatus.ACCEPTED)
            application.updated_at = now
    institution = session.get(Institution, offer.institution_id)
    product = session.get(Product, offer.product_id)
    return _borrower_view(offer, institution.name, product.name)
