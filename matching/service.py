"""Application use cases: apply (route), read, and read the trace. Each owns its
transaction; the hot path uses Core statements over the compiled catalogue."""

from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import UTCDateTime, transaction
from core.errors import IdempotencyKeyReused, NotFound
from core.ids import new_id
from core.principal import Principal, Role
from feedback import events, webhooks
from feedback.models import EventType
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
NO_ELIGIBLE_PRODUCT = "no_eligible_product"


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
        decision = context.route(
            session, catalogue, applicant, k, day, now,
            full_products=frozenset(full_products),
            full_institutions=frozenset(full_institutions))
        # Everything is prepared before the first write, and the counters are reserved
        # last: their rows are the most contended locks, held from here to the commit.
        application, routings, trace = _rows(
            who, body, request_hash, idempotency_key, now, context, application_id, day,
            decision, applicant, attempt)
        session.connection().execute(_INSERT_APPLICATION, application)
        _store_wave(session, decision, routings, trace, now)
        chosen_products = catalogue.product_id[decision.chosen].tolist()
        chosen_institutions = catalogue.institution_id[decision.chosen].tolist()
        if not chosen_products:
            events.append(session, EventType.NO_MATCH, now, application_id=application_id,
                          wave=FIRST_WAVE, data={"reason": NO_ELIGIBLE_PRODUCT})
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


def _store_wave(session, decision, routings, trace, now) -> None:
    """Write one wave: its routings, their ``routed`` events and webhook deliveries, and
    the trace."""
    connection = session.connection()
    if routings:
        connection.execute(_INSERT_ROUTINGS, routings)
        events.append_rows(session, [events.row(
            EventType.ROUTED, now, application_id=r["application_id"], routing_id=r["id"],
            institution_id=r["institution_id"], product_id=r["product_id"], wave=r["wave"],
            data={"rank": r["rank"], "probability": r["approval_probability"]})
            for r in routings])
        notify = decision.catalogue.institution_webhook[decision.chosen].tolist()
        webhooks.enqueue(session, [
            webhooks.delivery(r["institution_id"], webhooks.ROUTING_CREATED, r["id"], now)
            for r, wanted in zip(routings, notify, strict=True) if wanted])
    connection.execute(_INSERT_TRACE, trace)


def _trace_row(decision, application_id, wave, now, context, applicant, attempt, routed):
    trace = decision.trace(model_name=decision.model_name,
                           settings=context.settings, applicant=applicant, attempts=attempt)
    return dict(
        application_id=application_id, wave=wave, catalogue_version=decision.catalogue.version,
        body={"application_id": application_id, "wave": wave, "decided_at": now.isoformat(),
              **trace},
        routed=routed, not_routed=decision.not_routed_counts(), created_at=now)


def _rows(who, body, request_hash, idempotency_key, now, context, application_id,
          day, decision, applicant, attempt) -> tuple[dict, list[dict], dict]:
    """The application, routing and trace rows this decision would write."""
    catalogue = decision.catalogue
    routings = _routings(decision, application_id, day, now, FIRST_WAVE)
    status = ApplicationStatus.ROUTED if routings else ApplicationStatus.NO_MATCH
    routed = _routed_entries(decision, routings)
    response = _response(application_id, status, body, now, decision, routed)
    person, loan, consent = body["applicant"], body["request"], body["consent"]
    application = dict(
        id=application_id, api_key_id=who.key_id, idempotency_key=idempotency_key,
        request_hash=request_hash, external_id=person["external_id"],
        applicant=_stored_applicant(person), amount=loan["amount"], term=loan["term"],
        term_unit=loan["term_unit"], purpose=loan["purpose"], channel=body["channel"],
        consent_version=consent["version"], consent_given_at=consent["given_at"],
        status=status, wave=FIRST_WAVE, catalogue_version=catalogue.version,
        end_reason=None if routings else NO_ELIGIBLE_PRODUCT,
        response=response, created_at=now, updated_at=now)
    trace_row = _trace_row(decision, application_id, FIRST_WAVE, now, context, applicant,
                           attempt, routed)
    return application, routings, trace_row


def _stored_applicant(person: dict) -> dict:
    return {**person, "employment": str(person["employment"])}


def _routings(decision: engine.Decision, application_id: str, day, now,
              wave: int) -> list[dict]:
    cat, s = decision.catalogue, decision.scores
    at = decision.chosen_in_scores
    predictions = s.predictions
    sampled = (predictions.probability[at].tolist() if predictions.explored
               else [None] * len(at))
    features = (predictions.features[at].round(6).tolist()
                if predictions.features is not None else [None] * len(at))
    return [
        {"id": new_id(), "application_id": application_id, "wave": wave, "rank": rank,
         "product_id": int(cat.product_id[pos]),
         "institution_id": int(cat.institution_id[pos]), "status": RoutingStatus.PENDING,
         "approval_probability": float(p), "sampled_probability": q,
         "propensity": float(propensity), "features": x, "score": float(sc),
         "capacity_day": day, "created_at": now, "decide_by": now + timedelta(seconds=sla)}
        for rank, (pos, p, q, propensity, x, sc, sla) in enumerate(
            zip(decision.chosen.tolist(), predictions.mean[at].tolist(), sampled,
                decision.propensity.tolist(), features, s.score[at].tolist(),
                cat.institution_sla[decision.chosen].tolist(), strict=True), 1)
    ]


def _routed_entries(decision: engine.Decision, routings: list[dict]) -> list[dict]:
    """What the borrower app is told about each routed product of one wave."""
    cat = decision.catalogue
    routed = []
    for routing, pos in zip(routings, decision.chosen.tolist(), strict=True):
        routed.append({
            "routing_id": routing["id"], "rank": routing["rank"], "wave": routing["wave"],
            "status": RoutingStatus.PENDING.value, "decline_reasons": None,
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
    return routed


def _response(application_id: str, status: ApplicationStatus, body: dict, now: datetime,
              decision: engine.Decision, routed: list[dict]) -> dict:
    cat = decision.catalogue
    loan = body["request"]
    return {
        "id": application_id, "status": status.value, "wave": FIRST_WAVE,
        "external_id": body["applicant"]["external_id"],
        "created_at": now.isoformat(),
        "request": {"amount": loan["amount"], "term": loan["term"],
                    "term_unit": str(loan["term_unit"]), "purpose": str(loan["purpose"])},
        "channel": str(body["channel"]),
        "end_reason": None if routed else NO_ELIGIBLE_PRODUCT,
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


_WAVES = select(RoutingTrace.wave, RoutingTrace.routed, RoutingTrace.not_routed).where(
    RoutingTrace.application_id == bindparam("application_id")).order_by(RoutingTrace.wave)
_ROUTING_STATES = select(Routing.id, Routing.status, Routing.decline_reasons).where(
    Routing.application_id == bindparam("application_id"))


def represent(session: Session, application: Application) -> dict:
    """The application as the borrower app sees it now: every wave's routed products
    with their current status (and why any declined), the products the latest wave could
    not use, the application's status and, once it has ended, why."""
    connection = session.connection()
    waves = connection.execute(_WAVES, {"application_id": application.id}).all()
    states = {r.id: r for r in connection.execute(_ROUTING_STATES,
                                                 {"application_id": application.id})}
    response = dict(application.response)
    response["status"] = str(application.status)
    response["wave"] = application.wave
    response["end_reason"] = application.end_reason
    routed = []
    for wave in waves:
        for entry in wave.routed:
            state = states[entry["routing_id"]]
            routed.append({**entry, "status": str(state.status),
                           "decline_reasons": state.decline_reasons})
    response["routed"] = routed
    if waves:
        response["not_routed"] = waves[-1].not_routed
    return response


def route_next_wave(session: Session, application: Application, context: RoutingContext,
                    now: datetime) -> list[dict]:
    """Route the application's next wave, leaving out every institution an earlier wave
    asked, inside the caller's transaction (which holds the application's row lock).
    Returns the new routings (none: nothing eligible is left).

    Unlike the first wave, the caller has already written a decision in this transaction,
    so a cap found full cannot roll everything back: capacity is reserved first, and what
    was taken of a set that did not fit is given back before choosing again."""
    catalogue = context.cache.get(session)
    applicant = from_body(stored_body(application))
    tried = frozenset(session.scalars(
        select(Routing.institution_id).where(Routing.application_id == application.id)))
    wave = application.wave + 1
    day = context.capacity_day(now)
    k = context.products_for(str(application.channel))
    full_products, full_institutions = set(), set()
    attempt = 0
    while True:
        attempt += 1
        decision = context.route(
            session, catalogue, applicant, k, day, now,
            full_products=frozenset(full_products),
            full_institutions=frozenset(full_institutions), tried_institutions=tried)
        chosen_products = catalogue.product_id[decision.chosen].tolist()
        chosen_institutions = catalogue.institution_id[decision.chosen].tolist()
        if not chosen_products:
            break
        products, institutions = capacity.reserve(session, day, chosen_products,
                                                  chosen_institutions)
        if not products and not institutions:
            break
        capacity.release(session,
                         [(day, p, None) for p in chosen_products if p not in products]
                         + [(day, None, i) for i in chosen_institutions
                            if i not in institutions])
        context.usage.full(day, products, institutions)
        full_products |= products
        full_institutions |= institutions
    routings = _routings(decision, application.id, day, now, wave)
    routed = _routed_entries(decision, routings)
    _store_wave(session, decision, routings,
                _trace_row(decision, application.id, wave, now, context, applicant, attempt,
                           routed), now)
    application.wave = wave
    return routings


def stored_body(application: Application) -> dict:
    """The parts of the original request routing reads, rebuilt from the stored row."""
    return {"applicant": application.applicant,
            "request": {"amount": application.amount, "term": application.term,
                        "term_unit": str(application.term_unit),
                        "purpose": str(application.purpose)},
            "channel": str(application.channel)}


def traces(session: Session, who: Principal, application_id: str) -> list[dict]:
    get_visible(session, who, application_id)
    return list(session.scalars(
        select(RoutingTrace.body).where(RoutingTrace.application_id == application_id)
        .order_by(RoutingTrace.wave)))
