"""Whatever a client sends, the answer is a clear 4xx, never a 500, and nothing half-written."""

import json

import pytest
from conftest import product_body

NASTY = [None, "", "x" * 300, -1, 0, 10**20, 1e308, -1e-9, 0.5, True, [], {}, ["CN-SH"],
         {"$ne": 1}, "1; DROP TABLE products", "nul\x00byte", ["CN-SH\x00"]]
TOP_FIELDS = list(product_body(1))
RULE_FIELDS = list(product_body(1)["rules"])


def posted(client, ops, body):
    response = client.post("/v1/products", json=body, headers=ops)
    assert response.status_code in (201, 409, 422), (body, response.status_code,
                                                     response.json)
    assert set(response.json) >= ({"id"} if response.status_code == 201
                                  else {"code", "status"})
    return response


@pytest.mark.parametrize("value", NASTY, ids=repr)
def test_any_value_in_any_field_never_500s(client, ops, create_institution, value):
    institution = create_institution()
    created = 0
    for field in TOP_FIELDS:
        body = product_body(institution["id"], name=f"p-{field}") | {field: value}
        created += posted(client, ops, body).status_code == 201
    for field in RULE_FIELDS:
        body = product_body(institution["id"], name=f"r-{field}")
        body["rules"] = body["rules"] | {field: value}
        created += posted(client, ops, body).status_code == 201
    listed = json.loads(client.get("/v1/products", headers=ops).headers["X-Pagination"])
    assert listed["total"] == created


@pytest.mark.parametrize("value", NASTY, ids=repr)
def test_any_patch_never_500s_and_a_refused_one_changes_nothing(client, ops,
                                                                create_institution,
                                                                create_product, value):
    product = create_product(create_institution()["id"])
    url = f"/v1/products/{product['id']}"
    for field in TOP_FIELDS + [f"rules.{name}" for name in RULE_FIELDS]:
        before = client.get(url, headers=ops).json
        if field.startswith("rules."):
            change = {"rules": {field.removeprefix("rules."): value}}
        else:
            change = {field: value}
        response = client.patch(url, json=change | {"reason": "fuzz"}, headers=ops)
        assert response.status_code in (200, 409, 422), (change, response.json)
        if response.status_code != 200:
            assert client.get(url, headers=ops).json == before


@pytest.mark.parametrize("raw", ["NaN", '{"weight": NaN}', '{"amount_min": Infinity}',
                                 '{"a": ' * 50 + "1" + "}" * 50, "\x00\x01", "{}" * 10])
def test_odd_json_is_refused_cleanly(client, ops, create_institution, raw):
    institution = create_institution()
    response = client.patch(f"/v1/institutions/{institution['id']}", data=raw,
                            headers={**ops, "Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert client.get(f"/v1/institutions/{institution['id']}", headers=ops).json == \
        institution


@pytest.mark.parametrize("path", ["/v1/products/100000000000000000000",
                                  "/v1/institutions/99999999999999999999999",
                                  "/v1/products?institution_id=100000000000000000000",
                                  "/v1/keys?institution_id=-5"])
def test_out_of_range_ids_are_refused_not_500(client, ops, path):
    assert client.get(path, headers=ops).status_code in (404, 422)


@pytest.mark.parametrize("path", ["/v1/audit", "/v1/products", "/v1/institutions", "/v1/keys"])
def test_a_page_far_past_the_end_is_empty_not_500(client, ops, create_institution, path):
    # Found by the schemathesis run: page × page_size overflowed SQLite's 64-bit OFFSET.
    create_institution()
    response = client.get(f"{path}?page=4611686018427387344&page_size=100", headers=ops)
    assert response.status_code == 200
    assert response.json == []
    first = client.get(path, headers=ops)
    assert json.loads(response.headers["X-Pagination"])["total"] == \
        json.loads(first.headers["X-Pagination"])["total"]
