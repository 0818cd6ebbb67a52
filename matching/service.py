"""Application use cases: apply (route), read, and read the trace. Each owns its
transaction; the hot path uses Core statements over the compiled catalogue."""

from datetime import datetime

from sqlalchemy import bindparam, insert, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import UTCDateTime, transaction
from core.errors import IdempotencyKeyReused, NotFound
from core.ids import new_id
from core.principal import Principal, Role
from matching import capacity, engine
from matching.applicant import from_body
from matching.models import (
    OPEN_STATUSES,
    Application,
    ApplicationStatus,
    Routing,
    RoutingStatus,
    RoutingTrace,
)
from matching.routing_context import RoutingContext

FIRST_WAVE = 1


class Outcome:
    """What ``apply`` did: ``created`` (201), ``replayed`` (201, the stored response of an
    earlier request with this Idempotency-Key) or ``existing`` (200, the applicant's open
    application inside the cool-down)."""

    CREATED, REPLAYED, EXISTING = "created", "replayed", "existing"


def apply(session: Session, who: Principal, body: dict, *, request_hash: str,
          idempotency_key: str, context: RoutingContext) -> tuple[dict, str]:
    now = context.clock()
    earlier = _earlier(session, who, body, idempotency_key, request_hash, now, context)
    if earlier is not None:
        return earlier
    try:
        with transaction(session):
            response, reservation = _route_and_store(session, who, body, request_hash,
                                                     idempotency_key, now, context)
        context.usage.reserved(*reservation)
        return response, Outcome.CREATED
    except IntegrityError:
        # A concurrent request with the same key won the insert; answer as it did.
        earlier = _earlier(session, who, body, idempotency_key, request_hash, now, context)
        if earlier is None:
            raise
        return earlier


# Hot-path statements, built once: each request only binds values.
_COLUMNS = (Application.id, Application.idempotency_key, Application.request_hash,
            Application.response, Application.created_at)
# Two index lookups glued together rather than one OR, which PostgreSQL's generic plan
# for a prepared statement turned into a scan of the table.
_EARLIER = union_all(
    select(*_COLUMNS).where(Application.api_key_id == bindparam("key_id"),
                            Application.idempotency_key == bindparam("idempotency_key")),
    select(*_COLUMNS).where(Application.api_key_id == bindparam("key_id"),
                            Application.external_id == bindparam("external_id"),
                            Application.created_at >= bindparam("since", type_=UTCDateTime),
                            Application.status.in_(OPEN_STATUSES)),
)
_INSERT_APPLICATION = insert(Application.__table__)
# RETURNING makes SQLAlchemy send the rows as one multi-row INSERT, not one per routing.
_INSERT_ROUTINGS = insert(Routing.__table__).returning(Routing.__table__.c.id)
_INSERT_TRACE = insert(RoutingTrace.__table__)


def _earlier(session, who, body, idempotency_key, request_hash, now, context):
    rows = sorted(session.connection().execute(_EARLIER, {
        "key_id": who.key_id, "idempotency_key": idempotency_key,
        "external_id": body["applicant"]["external_id"], "since": now - context.cooldown,
    }).all(), key=lambda row: row.created_at, reverse=True)
    for row in rows:
        if row.idempotency_key == idempotency_key:
            if row.request_hash != request_hash:
                raise IdempotencyKeyReused()
            return row.response, Outcome.REPLAYED
    if rows:
        return represent(session, session.get(Application, rows[0].id)), Outcome.EXISTING
    return None


def _route_and_store(session, who, body, request_hash, idempotency_key, now, context):
    catalogue = context.cache.get(session)
    applicant = from_body(body)
    day = context.capacity_day(now)
    k = context.products_for(str(body["channel"]))
    application_id = new_id()
    full_products, full_institutions = set(), set()
    attempt = 0
    while True:
        attempt += 1
        decision = engine.route(
            catalogue, applicant, k=k, model=context.model, settings=context.settings,
            usage_of=lambda p, i: context.usage.used(session, day, p, i),
            full_products=frozenset(full_products),
            full_institutions=frozenset(full_institutions))
        # Everything is prepared before the first write, and the counters are reserved
        # last: their rows are the most contended locks, held from here to the commit.
        application, routings, trace = _rows(
            who, body, request_hash, idempotency_key, now, context, application_id, day,
            decision, applicant, attempt)
        connection = session.connection()
        connection.execute(_INSERT_APPLICATION, application)
        if routings:
            connection.execute(_INSERT_ROUTINGS, routings)
        connection.execute(_INSERT_TRACE, trace)
        chosen_products = catalogue.product_id[decision.chosen].tolist()
        chosen_institutions = catalogue.institution_id[decision.chosen].tolist()
        if not chosen_products:
            break
        products, institutions = capacity.reserve(session, day, chosen_products,
                                                  chosen_institutions)
        if not products and not institutions:
            break
        # A cap filled up since this process last looked: undo this attempt entirely
        # and choose again without those products.
        session.rollback()
        context.usage.full(day, products, institutions)
        full_products |= products
        full_institutions |= institutions
    return application["response"], (day, chosen_products, chosen_institutions)


def _rows(who, body, request_hash, idempotency_key, now, context, application_id,
          day, decision, applicant, attempt) -> tuple[dict, list[dict], dict]:
    """The application, routing and trace rows this decision would write."""
    catalogue = decision.catalogue
    routings = _routings(decision, application_id, day, now)
    status = ApplicationStatus.ROUTED if routings else ApplicationStatus.NO_MATCH
    response = _response(application_id, status, body, now, decision, routings)
    person, loan, consent = body["applicant"], body["request"], body["consent"]
    application = dict(
        id=application_id, api_key_id=who.key_id, idempotency_key=idempotency_key,
        request_hash=request_hash, external_id=person["external_id"],
        applicant=_stored_applicant(person), amount=loan["amount"], term=loan["term"],
        term_unit=loan["term_unit"], purpose=loan["purpose"], channel=body["channel"],
        consent_version=consent["version"], consent_given_at=consent["given_at"],
        status=status, wave=FIRST_WAVE, catalogue_version=catalogue.version,
        response=response, created_at=now, updated_at=now)
    trace = decision.trace(model_name=getattr(context.model, "name", "model"),
                           settings=context.settings, applicant=applicant, attempts=attempt)
    trace_row = dict(
        application_id=application_id, wave=FIRST_WAVE, catalogue_version=catalogue.version,
        body={"application_id": application_id, "wave": FIRST_WAVE,
              "decided_at": now.isoformat(), **trace},
        created_at=now)
    return application, routings, trace_row


def _stored_applicant(person: dict) -> dict:
    return {**person, "employment": str(person["employment"])}


def _routings(decision: engine.Decision, application_id: str, day, now) -> list[dict]:
    cat, s = decision.catalogue, decision.scores
    at = decision.chosen_in_scores
    return [
        {"id": new_id(), "application_id": application_id, "wave": FIRST_WAVE, "rank": rank,
         "product_id": int(cat.product_id[pos]),
         "institution_id": int(cat.institution_id[pos]), "status": RoutingStatus.PENDING,
         "approval_probability": float(p), "score": float(sc), "capacity_day": day,
         "created_at": now}
        for rank, (pos, p, sc) in enumerate(
            zip(decision.chosen.tolist(), s.probability[at].tolist(), s.score[at].tolist(),
                strict=True), 1)
    ]


def _response(application_id: str, status: ApplicationStatus, body: dict, now: datetime,
              decision: engine.Decision, routings: list[dict]) -> dict:
    cat = decision.catalogue
    routed = []
    for routing, pos in zip(routings, decision.chosen.tolist(), strict=True):
        routed.append({
            "routing_id": routing["id"], "rank": routing["rank"],
            "status": RoutingStatus.PENDING.value,
            "institution": {"id": routing["institution_id"], "name": cat.institution_name[pos]},
            "product": {"id": routing["product_id"], "name": cat.product_name[pos],
                        "type": cat.product_type[pos]},
            "approval_odds": engine.odds_band(routing["approval_probability"]),
            "terms": {"amount_min": int(cat.amount_min[pos]),
                      "amount_max": int(cat.amount_max[pos]),
                      "term_min": cat.term_min[pos], "term_max": cat.term_max[pos],
                      "term_unit": cat.term_unit[pos],
                      "apr_min": float(cat.apr_min[pos]), "apr_max": float(cat.apr_max[pos])},
        })
    loan = body["request"]
    return {
        "id": application_id, "status": status.value, "wave": FIRST_WAVE,
        "external_id": body["applicant"]["external_id"],
        "created_at": now.isoformat(),
        "request": {"amount": loan["amount"], "term": loan["term"],
                    "term_unit": str(loan["term_unit"]), "purpose": str(loan["purpose"])},
        "channel": str(body["channel"]),
        "routed": routed,
        "not_routed": decision.not_routed_counts(),
        "products_considered": cat.size,
    }


def get_visible(session: Session, who: Principal, application_id: str) -> Application:
    """The application if ``who`` is ops or the key that created it; 404 alike otherwise."""
    application = session.get(Application, application_id)
    if application is None or (who.role != Role.OPS and application.api_key_id != who.key_id):
        raise NotFound(f"no application {application_id}")
    return application


def represent(session: Session, application: Application) -> dict:
    """The application as the borrower app sees it: what routing answered, with the
    current status of the application and of each routing."""
    statuses = dict(session.execute(
        select(Routing.id, Routing.status).where(Routing.application_id == application.id)
    ).all())
    response = dict(application.response)
    response["status"] = str(application.status)
    response["wave"] = application.wave
    response["routed"] = [{**r, "status": str(statuses.get(r["routing_id"], r["status"]))}
                          for r in response["routed"]]
    return response


def traces(session: Session, who: Principal, application_id: str) -> list[dict]:
    get_visible(session, who, application_id)
    return list(session.scalars(
        select(RoutingTrace.body).where(RoutingTrace.application_id == application_id)
        .order_by(RoutingTrace.wave)))
