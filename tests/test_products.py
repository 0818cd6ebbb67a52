import json

import pytest
from conftest import product_body


@pytest.fixture
def institution(create_institution):
    return create_institution()


def total(response) -> int:
    return json.loads(response.headers["X-Pagination"])["total"]


def product_count(client, ops) -> int:
    return total(client.get("/v1/products", headers=ops))


def test_create_then_read_back(client, ops, institution):
    body = product_body(institution["id"])
    created = client.post("/v1/products", json=body, headers=ops)
    assert created.status_code == 201
    product = created.json
    assert product["version"] == 1 and product["status"] == "active"
    for field, value in body.items():
        if field == "rules":
            assert product["rules"] | value == product["rules"]
        else:
            assert product[field] == value, field
    read = client.get(f"/v1/products/{product['id']}", headers=ops)
    assert read.status_code == 200 and read.json == product
    assert read.headers["ETag"] == '"1"'


def test_rules_default_to_an_open_product(client, ops, institution):
    body = product_body(institution["id"])
    del body["rules"], body["weight"], body["daily_application_cap"]
    product = client.post("/v1/products", json=body, headers=ops).json
    assert product["rules"] == {"age_min": 18, "age_max": 65, "income_min": 0,
                                "score_min": None, "accepts_no_score": True, "dti_max": None,
                                "regions": [], "regions_excluded": [], "employment": [],
                                "channels": [], "borrowers": "any"}
    assert product["weight"] == 1.0 and product["daily_application_cap"] is None


def test_list_paginates_and_filters(client, ops, create_institution, create_product):
    a = create_institution(name="A")
    b = create_institution(name="B")
    create_product(a["id"], name="a1", type="cash_loan")
    create_product(a["id"], name="a2", type="instalment", status="paused")
    create_product(b["id"], name="b1", type="cash_loan")
    create_product(b["id"], name="b2", type="goods_instalment")
    create_product(b["id"], name="b3", type="revolving_line")

    page = client.get("/v1/products?page=2&page_size=2", headers=ops)
    assert [p["name"] for p in page.json] == ["b1", "b2"]
    assert total(page) == 5
    names = lambda query: [p["name"] for p in client.get(f"/v1/products?{query}",  # noqa: E731
                                                         headers=ops).json]
    assert names("type=cash_loan") == ["a1", "b1"]
    assert names("status=paused") == ["a2"]
    assert names(f"institution_id={b['id']}") == ["b1", "b2", "b3"]
    assert names(f"institution_id={b['id']}&type=cash_loan") == ["b1"]
    bad = client.get("/v1/products?type=mortgage", headers=ops)
    assert bad.status_code == 422 and "type" in bad.json["errors"]["query"]


@pytest.mark.parametrize("changes, where, complaint", [
    ({"amount_min": 5000, "amount_max": 1000}, ("amount_min",), "above amount_max"),
    ({"term_min": 12, "term_max": 6}, ("term_min",), "above term_max"),
    ({"term_max": 200, "term_unit": "month"}, ("term_max",), "at most 120 months"),
    ({"apr_min": 0.2, "apr_max": 0.1}, ("apr_min",), "above apr_max"),
    ({"apr_max": 0.36}, ("apr_max",), "APR cap"),
    ({"apr_max": 1.5}, ("apr_max",), "less than or equal to 1"),
    ({"amount_min": -1}, ("amount_min",), "greater than or equal to 1"),
    ({"daily_application_cap": -3}, ("daily_application_cap",), "greater than or equal"),
    ({"daily_funding_cap": -3}, ("daily_funding_cap",), "greater than or equal"),
    ({"weight": 11}, ("weight",), "less than or equal to 10"),
    ({"weight": -0.5}, ("weight",), "greater than or equal to 0"),
    ({"type": "mortgage"}, ("type",), "Must be one of"),
    ({"term_unit": "week"}, ("term_unit",), "Must be one of"),
    ({"status": "deleted"}, ("status",), "Must be one of"),
    ({"surprise": True}, ("surprise",), "Unknown field"),
    ({"institution_id": 999}, ("institution_id",), "no such institution"),
    ({"rules": {"regions": ["CN-SH", "XX-YY"]}}, ("rules", "regions"), "unknown region"),
    ({"rules": {"regions": ["CN-GD"]}}, ("rules", "regions"), "not licensed in CN-GD"),
    ({"rules": {"regions": ["CN-SH"], "regions_excluded": ["CN-SH"]}},
     ("rules", "regions_excluded"), "also listed as served"),
    ({"rules": {"age_min": 60, "age_max": 30}}, ("rules", "age_min"), "above age_max"),
    ({"rules": {"age_min": 12}}, ("rules", "age_min"), "greater than or equal to 18"),
    ({"rules": {"score_min": 5000}}, ("rules", "score_min"), "less than or equal to 1000"),
    ({"rules": {"dti_max": 0}}, ("rules", "dti_max"), "greater than 0"),
    ({"rules": {"income_min": -100}}, ("rules", "income_min"), "greater than or equal"),
    ({"rules": {"employment": ["astronaut"]}}, ("rules", "employment"), "Must be one of"),
    ({"rules": {"channels": ["telepathy"]}}, ("rules", "channels"), "Must be one of"),
    ({"rules": {"borrowers": "everyone"}}, ("rules", "borrowers"), "Must be one of"),
    ({"rules": {"mood": "good"}}, ("rules", "mood"), "Unknown field"),
])
def test_bad_input_is_422_naming_the_field_and_writes_nothing(client, ops, institution,
                                                             changes, where, complaint):
    response = client.post("/v1/products", json=product_body(institution["id"]) | changes,
                           headers=ops)
    assert response.status_code == 422, response.json
    errors = response.json["errors"]["json"]
    for key in where:
        errors = errors[key]
    assert complaint in json.dumps(errors)
    assert product_count(client, ops) == 0
    assert total(client.get("/v1/audit?object_type=product", headers=ops)) == 0


def test_every_cross_field_problem_is_reported_at_once(client, ops, institution):
    body = product_body(institution["id"], amount_min=9000, amount_max=100, apr_max=0.3,
                        rules={"age_min": 50, "age_max": 20})
    errors = client.post("/v1/products", json=body, headers=ops).json["errors"]["json"]
    assert set(errors) == {"amount_min", "apr_max", "rules"}
    assert set(errors["rules"]) == {"age_min"}


def test_apr_cap_comes_from_configuration(app, client, ops, institution):
    app.config["APR_CAP"] = 0.18
    response = client.post("/v1/products", json=product_body(institution["id"], apr_max=0.2),
                           headers=ops)
    assert response.status_code == 422
    assert "APR cap 0.18" in json.dumps(response.json["errors"])


def test_duplicate_name_at_an_institution_is_409(client, ops, institution, create_product,
                                                 create_institution):
    create_product(institution["id"], name="Same")
    twin = client.post("/v1/products", json=product_body(institution["id"], name="Same"),
                       headers=ops)
    assert twin.status_code == 409
    other = create_institution(name="Other")
    create_product(other["id"], name="Same", rules={})


def test_patch_merges_rules_bumps_version_and_audits(client, ops, institution,
                                                    create_product):
    product = create_product(institution["id"])
    response = client.patch(f"/v1/products/{product['id']}", headers=ops,
                            json={"weight": 2.5, "rules": {"income_min": 4000},
                                  "reason": "strong repayment in Q3"})
    assert response.status_code == 200
    changed = response.json
    assert changed["weight"] == 2.5 and changed["version"] == 2
    assert changed["rules"] == product["rules"] | {"income_min": 4000}

    entry = client.get(f"/v1/audit?object_type=product&object_id={product['id']}",
                       headers=ops).json[0]
    assert entry["before"] == {"weight": 1.0, "rules": product["rules"], "version": 1}
    assert entry["after"] == {"weight": 2.5, "rules": changed["rules"], "version": 2}
    assert entry["reason"] == "strong repayment in Q3"


def test_patch_is_checked_against_the_stored_values(client, ops, institution,
                                                   create_product):
    product = create_product(institution["id"])
    response = client.patch(f"/v1/products/{product['id']}", json={"amount_min": 50000},
                            headers=ops)
    assert response.status_code == 422
    assert "above amount_max (30000)" in response.json["errors"]["json"]["amount_min"][0]
    assert client.get(f"/v1/products/{product['id']}", headers=ops).json == product


@pytest.mark.parametrize("change", [{"weight": 3}, {"status": "paused"},
                                    {"daily_application_cap": 1},
                                    {"daily_funding_cap": 1}])
def test_weight_cap_and_status_changes_need_a_reason(client, ops, institution,
                                                     create_product, change):
    product = create_product(institution["id"])
    response = client.patch(f"/v1/products/{product['id']}", json=change, headers=ops)
    assert response.status_code == 422
    assert "required when changing" in response.json["errors"]["json"]["reason"][0]
    assert client.get(f"/v1/products/{product['id']}", headers=ops).json == product


def test_stale_if_match_is_409(client, ops, institution, create_product):
    product = create_product(institution["id"])
    url = f"/v1/products/{product['id']}"
    ok = client.patch(url, json={"weight": 2, "reason": "a"},
                      headers={**ops, "If-Match": 'W/"1"'})
    assert ok.status_code == 200
    stale = client.patch(url, json={"weight": 3, "reason": "b"},
                         headers={**ops, "If-Match": '"1"'})
    assert stale.status_code == 409
    assert client.get(url, headers=ops).json["weight"] == 2
    garbage = client.patch(url, json={"weight": 3, "reason": "b"},
                           headers={**ops, "If-Match": "yesterday"})
    assert garbage.status_code == 422 and "If-Match" in garbage.json["errors"]["headers"]


def test_a_product_cannot_move_institutions_or_come_back_from_retirement(
        client, ops, institution, create_product, create_institution):
    product = create_product(institution["id"])
    other = create_institution(name="Other")
    url = f"/v1/products/{product['id']}"
    moved = client.patch(url, json={"institution_id": other["id"]}, headers=ops)
    assert moved.status_code == 422 and "institution_id" in moved.json["errors"]["json"]
    retire = client.patch(url, json={"status": "retired", "reason": "sunset"}, headers=ops)
    assert retire.status_code == 200
    revive = client.patch(url, json={"status": "active", "reason": "oops"}, headers=ops)
    assert revive.status_code == 422 and "status" in revive.json["errors"]["json"]


def test_concurrent_writers_cannot_lose_an_update(app, ops, institution, create_product):
    """Two writers who read version 1 both try to change it: the second gets 409, even
    without If-Match, because the UPDATE is conditional on the version it read."""
    from core import edits
    from core.db import new_session
    from core.errors import StaleVersion
    from core.principal import Principal, Role
    from products.models import Product

    product_id = create_product(institution["id"])["id"]
    who = Principal(key_id=None, role=Role.OPS, label="test")
    with app.app_context():
        first, second = new_session(), new_session()
        mine, theirs = first.get(Product, product_id), second.get(Product, product_id)
        edits.apply_and_audit(first, who, mine, {"weight": 2.0}, what="product",
                              snapshot=lambda p: {"weight": p.weight}, reason="first")
        first.commit()
        with pytest.raises(StaleVersion):
            edits.apply_and_audit(second, who, theirs, {"weight": 3.0}, what="product",
                                  snapshot=lambda p: {"weight": p.weight}, reason="second")
        second.rollback()
        first.close()
        second.close()
        check = new_session()
        assert check.get(Product, product_id).weight == 2.0
        check.close()
