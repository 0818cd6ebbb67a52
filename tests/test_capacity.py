"""Daily caps under concurrency: many clients routing at once never over-allocate."""

import threading
from datetime import date

from conftest import application_body
from sqlalchemy import func, select

from app import create_app
from core.db import get_session
from matching import capacity
from matching.models import DailyUsage, Routing, UsageScope

RULES = {"regions": [], "channels": [], "employment": [], "dti_max": None,
         "income_min": 0, "age_min": 18, "age_max": 65}
CLIENTS = 12
APPLICATIONS_EACH = 4
CAP = 10


def test_caps_hold_under_concurrent_routing(app, borrower_app, create_institution,
                                            create_product):
    product_capped = create_institution(name="Product capped")
    capped_product = create_product(product_capped["id"], name="Ten a day",
                                    daily_application_cap=CAP, rules=RULES)
    institution_capped = create_institution(name="Institution capped",
                                            daily_application_cap=CAP)
    for n in range(2):
        create_product(institution_capped["id"], name=f"Open {n}",
                       daily_application_cap=None, rules=RULES)

    start = threading.Barrier(CLIENTS)
    statuses, lock = [], threading.Lock()

    def borrower_app_client(number: int) -> None:
        client = app.test_client()
        start.wait()
        for n in range(APPLICATIONS_EACH):
            body = application_body(applicant={"external_id": f"c{number}-{n}"})
            response = client.post("/v1/applications", json=body,
                                   headers={**borrower_app,
                                            "Idempotency-Key": f"c{number}-{n}"})
            with lock:
                statuses.append((response.status_code, response.json))

    threads = [threading.Thread(target=borrower_app_client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [s for s, _ in statuses] == [201] * CLIENTS * APPLICATIONS_EACH, statuses
    with app.app_context():
        session = get_session()
        per_product = dict(session.execute(
            select(Routing.product_id, func.count()).group_by(Routing.product_id)).all())
        per_institution = dict(session.execute(
            select(Routing.institution_id, func.count())
            .group_by(Routing.institution_id)).all())
        usage = {(scope, object_id): used for scope, object_id, used in session.execute(
            select(DailyUsage.scope, DailyUsage.object_id, DailyUsage.applications))}
    assert per_product[capped_product["id"]] == CAP
    assert per_institution[institution_capped["id"]] == CAP
    assert usage[(UsageScope.PRODUCT, capped_product["id"])] == CAP
    assert usage[(UsageScope.INSTITUTION, institution_capped["id"])] == CAP
    # The counters agree with the routings, product by product.
    for product_id, routed in per_product.items():
        assert usage[(UsageScope.PRODUCT, product_id)] == routed
    # Once both are full, applicants are told why, not dropped silently.
    exhausted = [body for _, body in statuses if body["status"] == "no_match"]
    assert len(exhausted) >= CLIENTS * APPLICATIONS_EACH - 2 * CAP
    assert all(body["not_routed"] == {"cap_exhausted": 1, "institution_cap_exhausted": 2}
               for body in exhausted)


def test_a_stale_view_of_the_caps_never_over_allocates(database_url, app, ops, borrower_app,
                                                       create_institution, create_product):
    """Two workers. The second keeps its view of the counters for an hour; when the first
    takes the last unit, the second still believes there is room, tries to reserve it,
    finds it gone, and routes elsewhere in the same request."""
    scarce = create_institution(name="Scarce")
    last_one = create_product(scarce["id"], name="One a day", daily_application_cap=1,
                              apr_min=0.05, rules=RULES)
    plenty = create_institution(name="Plenty")
    fallback = create_product(plenty["id"], name="Always", rules=RULES)
    second = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.0,
                         "USAGE_REFRESH_SECONDS": 3600})
    post_second = second.test_client().post

    def apply(poster, n):
        return poster("/v1/applications",
                      json=application_body(applicant={"external_id": f"w{n}"}),
                      headers={**borrower_app, "Idempotency-Key": f"w{n}"}).json

    # The second worker reads today's counters and takes the only unit (its view: 1 used).
    assert routed(apply(post_second, 0)) == [last_one["id"], fallback["id"]]
    # Ops allow one more; the first worker takes it at once.
    client = app.test_client()
    client.patch(f"/v1/products/{last_one['id']}", headers=ops,
                 json={"daily_application_cap": 2, "reason": "test"})
    assert routed(apply(client.post, 1)) == [last_one["id"], fallback["id"]]
    # The second worker's view still says 1 of 2 used.
    late = apply(post_second, 2)
    assert routed(late) == [fallback["id"]]
    assert late["not_routed"] == {"cap_exhausted": 1}
    trace = client.get(f"/v1/applications/{late['id']}/trace", headers=ops).json
    assert trace["waves"][0]["reservation_attempts"] == 2
    with app.app_context():
        used = get_session().scalar(select(DailyUsage.applications).where(
            DailyUsage.scope == UsageScope.PRODUCT, DailyUsage.object_id == last_one["id"]))
    assert used == 2
    second.extensions["lendmatch.engine"].dispose()


def routed(body) -> list[int]:
    return [r["product"]["id"] for r in body["routed"]]


def test_concurrent_retries_with_one_key_route_once(app, borrower_app, create_institution,
                                                    create_product):
    lender = create_institution(name="Any")
    create_product(lender["id"], name="Any loan", rules=RULES)
    start, answers, lock = threading.Barrier(8), [], threading.Lock()

    def retry():
        client = app.test_client()
        start.wait()
        response = client.post("/v1/applications", json=application_body(),
                               headers={**borrower_app, "Idempotency-Key": "double-tap"})
        with lock:
            answers.append((response.status_code, response.json["id"]))

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in answers} == {201}
    assert len({application_id for _, application_id in answers}) == 1
    with app.app_context():
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Routing)) == 1
        assert session.scalar(select(func.sum(DailyUsage.applications))) == 2


def test_giving_back_claims_in_one_pass_counts_each_claim(app, create_institution,
                                                          create_product):
    # Expiring or withdrawing several routings gives all their units back in one pass; a
    # counter claimed twice loses two units, and none goes below zero.
    institution = create_institution()["id"]
    first, second = (create_product(institution, name=f"Loan {i}")["id"] for i in (1, 2))
    day = date(2026, 11, 21)
    with app.app_context():
        session = get_session()
        for product in (first, first, second):
            assert capacity.reserve(session, day, [product], [institution]) == (set(), set())
        capacity.release(session, [(day, first, institution), (day, first, institution),
                                   (day, second, institution), (day, second, None)])
        session.commit()
        used = {(str(scope), object_id): n for scope, object_id, n in session.execute(
            select(DailyUsage.scope, DailyUsage.object_id, DailyUsage.applications))}
    assert used == {("product", first): 0, ("product", second): 0,
                    ("institution", institution): 0}
