"""An institution's inbox of routings (pull), and the webhook delivery log."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import page, transaction
from core.principal import Principal
from core.pseudonyms import Pseudonyms
from feedback import lifecycle
from feedback.disclosure import routing_view, routings_query
from feedback.events import mark_delivered
from feedback.models import WebhookAttempt, WebhookDelivery
from lenders.service import get_visible as visible_institution
from matching.models import Routing, RoutingStatus
from matching.routing_context import RoutingContext


def inbox(session: Session, who: Principal, *, status: RoutingStatus | None,
          after: str | None, limit: int, context: RoutingContext) -> tuple[list[dict], str]:
    """This institution's routings oldest first, ``limit`` at a time after the cursor.
    Undecided routings past their SLA are expired first; the routings returned count as
    delivered."""
    now = context.clock()
    lifecycle.expire_due(session, context, now, institution_id=who.institution_id)
    query = routings_query().where(Routing.institution_id == who.institution_id)
    if status is not None:
        query = query.where(Routing.status == status)
    if after is not None:
        query = query.where(Routing.id > after)
    with transaction(session):
        rows = session.execute(query.order_by(Routing.id).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        mark_delivered(session, [r.Routing.id for r in rows if r.Routing.delivered_at is None],
                       now, via="pull")
        pseudonyms = Pseudonyms(session)
        items = [routing_view(r, pseudonyms) for r in rows]
    return items, (rows[-1].Routing.id if more else None)


def deliveries(session: Session, who: Principal, institution_id: int, *, status=None,
               offset: int, limit: int) -> tuple[list[dict], int]:
    """The webhook delivery log of one institution, newest first (ops, or that
    institution; 404 for any other)."""
    visible_institution(session, who, institution_id)
    query = select(WebhookDelivery).where(WebhookDelivery.institution_id == institution_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows, total = page(session, query.order_by(WebhookDelivery.id.desc()), offset=offset,
                       limit=limit)
    attempts = {}
    for attempt in session.scalars(select(WebhookAttempt).where(
            WebhookAttempt.delivery_id.in_([r.id for r in rows]))
            .order_by(WebhookAttempt.id)):
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return [{**{c: getattr(r, c) for c in (
        "id", "event_type", "object_id", "status", "attempts", "last_status_code",
        "last_error", "created_at", "delivered_at")},
        "next_attempt_at": r.next_attempt_at if r.status == "pending" else None,
        "attempt_log": attempts.get(r.id, [])} for r in rows], total
