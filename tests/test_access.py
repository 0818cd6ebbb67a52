"""Who may do what: no key → 401, a role that may not → 403, another lender's object → 404."""

import pytest
from conftest import institution_body, product_body

from core.principal import Role


@pytest.fixture
def two_lenders(create_institution, create_product, make_key):
    a = create_institution(name="Lender A")
    b = create_institution(name="Lender B")
    return {
        "a": a, "b": b,
        "a_product": create_product(a["id"], name="A loan"),
        "b_product": create_product(b["id"], name="B loan"),
        "a_key": make_key(Role.INSTITUTION, a["id"]),
    }


ENDPOINTS = [
    ("get", "/v1/institutions"), ("post", "/v1/institutions"),
    ("get", "/v1/institutions/1"), ("patch", "/v1/institutions/1"),
    ("get", "/v1/products"), ("post", "/v1/products"),
    ("get", "/v1/products/1"), ("patch", "/v1/products/1"),
    ("get", "/v1/audit"), ("get", "/v1/keys"), ("post", "/v1/keys"),
    ("delete", "/v1/keys/1"),
]
APPLICATION_ENDPOINTS = [
    ("post", "/v1/applications"), ("get", "/v1/applications/" + "0" * 26),
    ("get", "/v1/applications/" + "0" * 26 + "/trace"),
]

NO_ID = "0" * 26
INSTITUTION_API = [
    ("get", "/v1/institution/routings"), ("get", f"/v1/institution/routings/{NO_ID}"),
    ("post", f"/v1/institution/routings/{NO_ID}/decision"),
    ("get", f"/v1/institution/offers/{NO_ID}"), ("post", "/v1/institution/loans"),
    ("get", f"/v1/institution/loans/{NO_ID}"),
    ("post", f"/v1/institution/loans/{NO_ID}/events"),
]
OFFER_ENDPOINTS = [
    ("get", f"/v1/applications/{NO_ID}/offers"),
    ("post", f"/v1/applications/{NO_ID}/offers/{NO_ID}/accept"),
    ("get", f"/v1/applications/{NO_ID}/events"),
    ("get", "/v1/institutions/1/webhook-deliveries"),
]


@pytest.mark.parametrize("method, path", ENDPOINTS + APPLICATION_ENDPOINTS + INSTITUTION_API
                         + OFFER_ENDPOINTS)
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer lm_nope_nope", "Basic abc",
                                    "Bearer not-a-key"])
def test_no_or_bad_key_is_401(client, method, path, header):
    headers = {"Authorization": header} if header else {}
    response = getattr(client, method)(path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert set(response.json) == {"code", "status", "message"}


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_borrower_app_may_not_touch_the_catalogue(client, borrower_app, method, path):
    response = getattr(client, method)(path, headers=borrower_app, json={})
    assert response.status_code == 403
    assert "borrower_app" in response.json["message"]


@pytest.mark.parametrize("method, path", INSTITUTION_API)
@pytest.mark.parametrize("role", ["ops", "borrower_app"])
def test_only_institution_keys_use_the_institution_api(client, request, role, method, path):
    response = getattr(client, method)(path, headers=request.getfixturevalue(role), json={})
    assert response.status_code == 403


@pytest.mark.parametrize("method, path", [
    ("post", f"/v1/applications/{NO_ID}/offers/{NO_ID}/accept"),
    ("get", f"/v1/applications/{NO_ID}/offers"), ("get", f"/v1/applications/{NO_ID}/events"),
    ("post", "/v1/institutions"), ("patch", "/v1/institutions/{a}"),
    ("post", "/v1/products"), ("patch", "/v1/products/{a_product}"),
    ("get", "/v1/audit"), ("get", "/v1/keys"), ("post", "/v1/keys"),
    ("delete", "/v1/keys/1"),
])
def test_institution_keys_may_only_read(client, two_lenders, method, path):
    path = path.format(a=two_lenders["a"]["id"], a_product=two_lenders["a_product"]["id"])
    response = getattr(client, method)(path, headers=two_lenders["a_key"], json={})
    assert response.status_code == 403


def test_an_institution_reads_its_own_catalogue(client, two_lenders):
    key = two_lenders["a_key"]
    own = client.get(f"/v1/institutions/{two_lenders['a']['id']}", headers=key)
    assert own.status_code == 200 and own.json["name"] == "Lender A"
    assert [i["name"] for i in client.get("/v1/institutions", headers=key).json] == \
        ["Lender A"]
    product = client.get(f"/v1/products/{two_lenders['a_product']['id']}", headers=key)
    assert product.status_code == 200 and product.json["name"] == "A loan"
    assert [p["name"] for p in client.get("/v1/products", headers=key).json] == ["A loan"]


def test_another_institutions_objects_do_not_exist_for_it(client, two_lenders):
    key = two_lenders["a_key"]
    b, b_product = two_lenders["b"]["id"], two_lenders["b_product"]["id"]
    hidden = client.get(f"/v1/products/{b_product}", headers=key)
    missing = client.get("/v1/products/99999", headers=key)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json["message"] == f"no product {b_product}"
    assert client.get(f"/v1/institutions/{b}", headers=key).status_code == 404
    assert client.get(f"/v1/products?institution_id={b}", headers=key).json == []


def test_keys_are_shown_once_and_revocable(client, ops, create_institution):
    lender = create_institution()
    created = client.post("/v1/keys", json={"role": "institution",
                                            "institution_id": lender["id"],
                                            "label": "lender integration"}, headers=ops)
    assert created.status_code == 201
    key = created.json["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/products", headers=headers).status_code == 200

    listed = client.get("/v1/keys", headers=ops).json
    assert all("key" not in row and "key_hash" not in row for row in listed)
    assert key not in str(listed)

    assert client.delete(f"/v1/keys/{created.json['id']}", headers=ops).status_code == 204
    assert client.get("/v1/products", headers=headers).status_code == 401
    assert client.delete(f"/v1/keys/{created.json['id']}", headers=ops).status_code == 204
    revocations = client.get("/v1/audit?object_type=api_key&action=revoke", headers=ops).json
    assert len(revocations) == 1
    assert client.delete("/v1/keys/9999", headers=ops).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"role": "institution"}, "institution_id"),
    ({"role": "ops", "institution_id": 1}, "institution_id"),
    ({"role": "institution", "institution_id": 424242}, "institution_id"),
    ({"role": "root"}, "role"),
])
def test_bad_key_requests_are_422(client, ops, create_institution, body, field):
    create_institution()
    response = client.post("/v1/keys", json=body, headers=ops)
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]


def test_keys_are_stored_only_as_hashes(app, client, ops):
    from sqlalchemy import select

    from core.db import get_session
    from core.keys import ApiKey

    key = client.post("/v1/keys", json={"role": "borrower_app"}, headers=ops).json["key"]
    with app.app_context():
        rows = get_session().scalars(select(ApiKey)).all()
        stored = " ".join(f"{r.prefix} {r.key_hash} {r.label}" for r in rows)
    assert key not in stored
    assert key.split("_", 2)[2] not in stored


def test_create_key_command_prints_the_key_last(runner, client, create_institution):
    lender = create_institution()
    result = runner.invoke(args=["create-key", "--role", "institution", "--institution",
                                 str(lender["id"])])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    response = client.get("/v1/institutions", headers={"Authorization": f"Bearer {key}"})
    assert [i["id"] for i in response.json] == [lender["id"]]

    refused = runner.invoke(args=["create-key", "--role", "institution"])
    assert refused.exit_code != 0 and "institution_id" in refused.output


def test_revoke_key_command(runner, client):
    created = runner.invoke(args=["create-key", "--role", "ops"])
    key = created.output.strip().splitlines()[-1]
    key_id = created.output.split()[1]
    assert runner.invoke(args=["revoke-key", key_id]).exit_code == 0
    response = client.get("/v1/products", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401


def test_oversized_body_is_413(client, ops):
    body = institution_body(name="x" * 100_000)
    response = client.post("/v1/institutions", json=body, headers=ops)
    assert response.status_code == 413
    assert "bytes" in response.json["message"]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "null", '"text"'])
def test_malformed_bodies_are_refused_not_500(client, ops, raw):
    response = client.post("/v1/products", data=raw, headers={
        **ops, "Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.json["code"] == response.status_code


def test_injection_attempts_are_inert(client, ops, create_institution, create_product):
    lender = create_institution(name="Robert'); DROP TABLE products;--")
    create_product(lender["id"], **{"name": "1' OR '1'='1"})
    listed = client.get("/v1/products", headers=ops).json
    assert [p["name"] for p in listed] == ["1' OR '1'='1"]
    response = client.get("/v1/products?institution_id=1%20OR%201=1", headers=ops)
    assert response.status_code == 422
    assert product_body(lender["id"])  # the catalogue is intact and still usable
