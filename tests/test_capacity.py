"""Daily caps under concurrency: many clients routing at once never over-allocate."""

import threading

from conftest import application_body
from sqlalchemy import func, select

from core.db import get_session
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
