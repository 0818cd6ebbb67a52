"""What an institution is shown, and nothing more: its own routings with the applicant
under a pseudonymous per-institution ref (never the platform's application id or the
borrower app's person id), its own offers and loans. The API and webhooks both use
these, so the two can never disclose different things."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.principal import Principal
from core.pseudonyms import Pseudonyms
from feedback import costs
from feedback.models import Loan, Offer, WebhookDelivery
from feedback.schemas import OfferForInstitutionOut, RoutingForInstitutionOut
from matching.models import Application, Routing
from products.models import Product

APPLICANT_FIELDS = ("age", "region", "monthly_income", "employment", "credit_score",
                    "monthly_debt", "first_loan")

ROUTING_COLUMNS = (Routing, Application.applicant, Application.api_key_id,
                   Application.external_id, Application.amount, Application.term,
                   Application.term_unit, Application.purpose, Application.channel,
                   Product.name.label("product_name"), Offer.id.label("offer_id"))


def routings_query():
    return (select(*ROUTING_COLUMNS)
            .join(Application, Application.id == Routing.application_id)
            .join(Product, Product.id == Routing.product_id)
            .outerjoin(Offer, Offer.routing_id == Routing.id))


def routing_view(row, pseudonyms: Pseudonyms) -> dict:
    routing = row.Routing
    person = row.applicant
    decision = None
    if routing.decided_at is not None:
        decision = {"decision": "approve" if row.offer_id else "decline",
                    "offer_id": row.offer_id, "reasons": routing.decline_reasons,
                    "decided_at": routing.decided_at}
    return {
        "id": routing.id, "status": routing.status,
        "product": {"id": routing.product_id, "name": row.product_name},
        "created_at": routing.created_at, "decide_by": routing.decide_by,
        "applicant": {"ref": pseudonyms.applicant_ref(routing.institution_id, row.api_key_id,
                                                      row.external_id),
                      **{name: person.get(name) for name in APPLICANT_FIELDS}},
        "request": {"amount": row.amount, "term": row.term, "term_unit": row.term_unit,
                    "purpose": row.purpose},
        "channel": row.channel,
        "decision": decision,
    }


def own_routing(session: Session, who: Principal, routing_id: str) -> Routing:
    """The routing if it is this institution's; 404 alike for another's or none."""
    routing = session.get(Routing, routing_id)
    if routing is None or routing.institution_id != who.institution_id:
        raise NotFound(f"no routing {routing_id}")
    return routing


def routing_for(session: Session, who: Principal, routing_id: str) -> dict:
    own_routing(session, who, routing_id)
    row = session.execute(routings_query().where(Routing.id == routing_id)).one()
    return routing_view(row, Pseudonyms(session))


def own_offer(session: Session, who: Principal, offer_id: str) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None or offer.institution_id != who.institution_id:
        raise NotFound(f"no offer {offer_id}")
    return offer


def offer_view(offer: Offer) -> dict:
    instalment, total_cost = costs.of_offer(offer)
    return {"id": offer.id, "routing_id": offer.routing_id, "product_id": offer.product_id,
            "status": offer.status, "amount": offer.amount, "apr": offer.apr,
            "term": offer.term, "term_unit": offer.term_unit, "instalment": instalment,
            "total_cost": total_cost, "expires_at": offer.expires_at,
            "created_at": offer.created_at, "closed_at": offer.closed_at}


def own_loan(session: Session, who: Principal, loan_id: str) -> Loan:
    loan = session.get(Loan, loan_id)
    if loan is None or loan.institution_id != who.institution_id:
        raise NotFound(f"no loan {loan_id}")
    return loan


def webhook_payload(session: Session, delivery: WebhookDelivery) -> dict:
    """The body of one delivery: its type and the object as the institution's API shows
    it now."""
    if delivery.event_type.startswith("routing."):
        row = session.execute(routings_query().where(Routing.id == delivery.object_id)).one()
        data = RoutingForInstitutionOut().dump(routing_view(row, Pseudonyms(session)))
    else:
        data = OfferForInstitutionOut().dump(offer_view(session.get(Offer, delivery.object_id)))
    return {"delivery_id": delivery.id, "type": delivery.event_type,
            "created_at": delivery.created_at.isoformat(), "data": data}

