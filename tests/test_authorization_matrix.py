"""The authorization matrix: every operation in /openapi.json × every kind of caller ×
another party's objects.

The callers: no key, ops, the borrower app that made the application, another borrower
app, the institution the objects belong to, and another institution. Every operation is
called by each of them on the owner's real objects, and the answer must be:

* ``ok``: let through (2xx, or a 409/422 about the request itself, never 401/403/404);
* ``401`` without a key; ``403`` for a role that may not call it at all;
* ``404`` for a caller of a permitted role that does not own the object: another
  institution's, or another borrower app's, objects do not exist for it.

A new operation without a row here fails the test, so nobody can add an endpoint without
deciding who may call it.
"""

import pytest
from conftest import application_body, institution_body, product_body
from journeys import decide, offer_terms, only_pending

from core.principal import Role

NOBODY, OPS, APP, OTHER_APP, LENDER, OTHER_LENDER = (
    "nobody", "ops", "app", "other_app", "lender", "other_lender")
CALLERS = (NOBODY, OPS, APP, OTHER_APP, LENDER, OTHER_LENDER)
ROLE_OF = {OPS: "ops", APP: "app", OTHER_APP: "app", LENDER: "lender",
           OTHER_LENDER: "lender"}


def row(ok=(), hidden=()):
    """``ok`` callers are let through, ``hidden`` ones get 404; no key gets 401 and every
    other caller 403."""
    expected = {}
    for caller in CALLERS:
        if caller in ok:
            expected[caller] = "ok"
        elif caller in hidden:
            expected[caller] = 404
        else:
            expected[caller] = 401 if caller == NOBODY else 403
    return expected


LENDERS_OWN = row(ok=(OPS, LENDER), hidden=(OTHER_LENDER,))
INSTITUTION_API = row(ok=(LENDER,), hidden=(OTHER_LENDER,))
OPS_ONLY = row(ok=(OPS,))
MATRIX = {
    "GET /v1/audit": OPS_ONLY,
    "GET /v1/keys": OPS_ONLY,
    "POST /v1/keys": OPS_ONLY,
    "DELETE /v1/keys/{key_id}": OPS_ONLY,
    # Lists answer every institution, each with only its own rows (checked below).
    "GET /v1/institutions": row(ok=(OPS, LENDER, OTHER_LENDER)),
    "POST /v1/institutions": OPS_ONLY,
    "GET /v1/institutions/{institution_id}": LENDERS_OWN,
    "PATCH /v1/institutions/{institution_id}": OPS_ONLY,
    "GET /v1/products": row(ok=(OPS, LENDER, OTHER_LENDER)),
    "POST /v1/products": OPS_ONLY,
    "GET /v1/products/{product_id}": LENDERS_OWN,
    "PATCH /v1/products/{product_id}": OPS_ONLY,
    "POST /v1/applications": row(ok=(APP, OTHER_APP)),
    "GET /v1/applications/{application_id}": row(ok=(OPS, APP), hidden=(OTHER_APP,)),
    "GET /v1/applications/{application_id}/trace": OPS_ONLY,
    "GET /v1/institution/routings": row(ok=(LENDER, OTHER_LENDER)),
    "GET /v1/institution/routings/{routing_id}": INSTITUTION_API,
    "POST /v1/institution/routings/{routing_id}/decision": INSTITUTION_API,
    "GET /v1/institution/offers/{offer_id}": INSTITUTION_API,
    "POST /v1/institution/loans": INSTITUTION_API,
    "GET /v1/institution/loans/{loan_id}": INSTITUTION_API,
    "POST /v1/institution/loans/{loan_id}/events": INSTITUTION_API,
    "GET /v1/applications/{application_id}/offers": row(ok=(OPS, APP), hidden=(OTHER_APP,)),
    "POST /v1/applications/{application_id}/offers/{offer_id}/accept":
        row(ok=(APP,), hidden=(OTHER_APP,)),
    "GET /v1/applications/{application_id}/events": OPS_ONLY,
    "GET /v1/institutions/{institution_id}/webhook-deliveries": LENDERS_OWN,
    "GET /v1/products/{product_id}/weights": OPS_ONLY,
    "POST /v1/products/{product_id}/weights": OPS_ONLY,
    "POST /v1/products/{product_id}/weights/rollback": OPS_ONLY,
    "GET /v1/models": OPS_ONLY,
    "POST /v1/models/{model_id}/rollback": OPS_ONLY,
    "GET /v1/capacity-prices": OPS_ONLY,
}


@pytest.fixture
def world(app, client, apply, clock, market, make_key, ops, borrower_app):
    """LENDER's product took APP's application, approved it, the borrower accepted and
    LENDER funded the loan. OTHER_LENDER's product was routed the same application."""
    lender, other = market(2)
    application = apply().json
    routing = only_pending(client, lender)
    only_pending(client, other)
    assert decide(client, lender, routing["id"], offer_terms(clock)).status_code == 201
    offer = client.get(f"/v1/applications/{application['id']}/offers",
                       headers=borrower_app).json[0]
    assert client.post(f"/v1/applications/{application['id']}/offers/{offer['id']}/accept",
                       headers=borrower_app).status_code == 200
    loan = client.post("/v1/institution/loans", headers=lender.key, json={
        "offer_id": offer["id"], "amount": 3000, "funded_at": clock.now.isoformat()}).json
    for job in ("update-models", "capacity-prices"):
        assert app.test_cli_runner().invoke(args=["jobs", "run", job]).exit_code == 0
    model = client.get("/v1/models", headers=ops).json[0]
    spare_key = client.post("/v1/keys", json={"role": "borrower_app"}, headers=ops).json
    return {
        "ids": {"institution_id": lender.id, "product_id": lender.product,
                "application_id": application["id"], "routing_id": routing["id"],
                "offer_id": offer["id"], "loan_id": loan["id"], "model_id": model["id"],
                "key_id": spare_key["id"]},
        "headers": {NOBODY: {}, OPS: ops, APP: borrower_app,
                    OTHER_APP: make_key(Role.BORROWER_APP), LENDER: lender.key,
                    OTHER_LENDER: other.key},
        "clock": clock,
    }


def body_for(label: str, world) -> dict | None:
    ids, now = world["ids"], world["clock"].now.isoformat()
    return {
        "POST /v1/keys": {"role": "borrower_app", "label": "matrix"},
        "POST /v1/institutions": institution_body(name="Matrix Lender"),
        "PATCH /v1/institutions/{institution_id}": {"daily_application_cap": 4000,
                                                    "reason": "matrix"},
        "POST /v1/products": product_body(ids["institution_id"], name="Matrix Loan"),
        "PATCH /v1/products/{product_id}": {"weight": 1.5, "reason": "matrix"},
        "POST /v1/applications": application_body_for_matrix(),
        "POST /v1/institution/routings/{routing_id}/decision": offer_terms(world["clock"]),
        "POST /v1/institution/loans": {"offer_id": ids["offer_id"], "amount": 3000,
                                       "funded_at": now},
        "POST /v1/institution/loans/{loan_id}/events": {"type": "instalment_paid", "at": now,
                                                        "amount": 100, "instalment": 1},
        "POST /v1/products/{product_id}/weights": {"locked": True, "reason": "matrix"},
        "POST /v1/products/{product_id}/weights/rollback": {"version": 1, "reason": "matrix"},
        "POST /v1/models/{model_id}/rollback": {"reason": "matrix"},
    }.get(label)


def application_body_for_matrix() -> dict:
    return application_body(applicant={"external_id": "matrix-applicant"})


def call(client, label: str, caller: str, world):
    method, template = label.split(" ", 1)
    path = template.format(**world["ids"])
    headers = dict(world["headers"][caller])
    if label == "POST /v1/applications":
        headers["Idempotency-Key"] = f"matrix-{caller}"
    return client.open(path, method=method, headers=headers, json=body_for(label, world))


def operations(app) -> list[str]:
    spec = app.test_client().get("/openapi.json").json
    return [f"{method.upper()} {path}" for path, methods in spec["paths"].items()
            for method in methods if method in {"get", "post", "patch", "put", "delete"}]


def outcome(status: int) -> str | int:
    """"ok" when access was granted: a success, or a refusal about the request itself."""
    return "ok" if 200 <= status < 300 or status in (409, 422) else status


def test_every_operation_is_in_the_matrix(app):
    assert sorted(operations(app)) == sorted(MATRIX)


@pytest.mark.parametrize("label", sorted(MATRIX))
def test_who_may_call_what_on_whose_objects(app, client, world, label):
    got = {caller: outcome(call(client, label, caller, world).status_code)
           for caller in CALLERS}
    assert got == MATRIX[label]


def test_lists_hold_only_the_callers_own_rows(client, world):
    ids, headers = world["ids"], world["headers"]
    for caller, sees_it in ((LENDER, True), (OTHER_LENDER, False)):
        institutions = client.get("/v1/institutions", headers=headers[caller]).json
        products = client.get("/v1/products", headers=headers[caller]).json
        routings = client.get("/v1/institution/routings",
                              headers=headers[caller]).json["items"]
        assert len(institutions) == len(products) == len(routings) == 1
        assert (institutions[0]["id"] == ids["institution_id"]) is sees_it
        assert (products[0]["id"] == ids["product_id"]) is sees_it
        assert (routings[0]["id"] == ids["routing_id"]) is sees_it
