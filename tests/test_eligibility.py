"""Every exclusion reason, end to end: one product the example applicant fits, changed in
exactly one way (or the applicant changed), must be left out for exactly that reason."""

import pytest
from conftest import application_body

from matching.eligibility import REASONS

RULES = {"age_min": 20, "age_max": 55, "income_min": 3000, "score_min": None,
         "accepts_no_score": True, "dti_max": 0.6, "regions": ["CN-SH"],
         "regions_excluded": [], "employment": ["salaried"],
         "channels": ["app", "ecommerce"], "borrowers": "any"}

# reason: (institution changes, product changes, product rule changes, application changes)
CASES = {
    "institution_paused": ({"status": "paused"}, {}, {}, {}),
    "product_paused": ({}, {"status": "paused"}, {}, {}),
    "zero_weight": ({}, {"weight": 0.0}, {}, {}),
    "channel_not_served": ({}, {}, {"channels": ["app"]}, {}),
    "region_not_served": ({}, {}, {"regions": ["CN-JS"]}, {}),
    "amount_below_min": ({}, {"amount_min": 5000}, {}, {}),
    "amount_above_max": ({}, {"amount_min": 500, "amount_max": 2000}, {}, {}),
    "term_out_of_range": ({}, {"term_max": 6}, {}, {}),
    "age_out_of_range": ({}, {}, {"age_max": 25}, {}),
    "income_below_min": ({}, {}, {"income_min": 10000}, {}),
    "employment_not_accepted": ({}, {}, {"employment": ["gig"]}, {}),
    "borrower_type_not_accepted": ({}, {}, {"borrowers": "repeat"}, {}),
    "no_score_not_accepted": ({}, {}, {"accepts_no_score": False, "score_min": 600}, {}),
    "score_below_min": ({}, {}, {"score_min": 650},
                        {"applicant": {"credit_score": 600}}),
    "dti_above_max": ({}, {}, {"dti_max": 0.1}, {}),
    "cap_exhausted": ({}, {"daily_application_cap": 0}, {}, {}),
    "institution_cap_exhausted": ({"daily_application_cap": 0}, {}, {}, {}),
}


# Only a later wave of the same application can leave a product out for this one; the
# cascade tests (test_journeys.py) show it.
LATER_WAVES_ONLY = {"institution_already_tried"}


def test_every_reason_code_has_a_case():
    assert set(CASES) | LATER_WAVES_ONLY == set(REASONS)


def _body(changes: dict) -> dict:
    return application_body(applicant=changes.get("applicant"), request=changes.get("request"))


@pytest.fixture
def route_one(client, ops, apply, create_institution, create_product):
    """Create one institution with one product, route one application, return what the
    borrower app and the trace say."""

    def route(institution=None, product=None, rules=None, application=None):
        lender = create_institution(**(institution or {}))
        created = create_product(lender["id"], rules={**RULES, **(rules or {})},
                                 **(product or {}))
        response = apply(_body(application or {}))
        assert response.status_code == 201, response.json
        trace = client.get(f"/v1/applications/{response.json['id']}/trace", headers=ops)
        return created, response.json, trace.json["waves"][0]

    return route


def test_the_base_product_is_routed(route_one):
    product, response, trace = route_one()
    assert response["status"] == "routed"
    assert [r["product"]["id"] for r in response["routed"]] == [product["id"]]
    assert response["not_routed"] == {}
    assert trace["excluded"] == {}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_each_rule_excludes_with_its_reason(route_one, reason):
    institution, product, rules, application = CASES[reason]
    created, response, trace = route_one(institution, product, rules, application)
    assert response["status"] == "no_match"
    assert response["routed"] == []
    assert response["not_routed"] == {reason: 1}
    assert trace["excluded"] == {reason: [created["id"]]}
    assert trace["eligible"] == [] and trace["chosen"] == []


def test_the_first_failing_rule_is_the_reason(route_one):
    _, response, _ = route_one(product={"amount_min": 5000}, rules={"age_max": 25})
    assert response["not_routed"] == {"amount_below_min": 1}


def test_excluded_region_and_an_institution_no_longer_licensed(client, ops, apply,
                                                               create_institution,
                                                               create_product):
    lender = create_institution(licensed_regions=["CN-SH", "CN-ZJ"])
    nationwide = create_product(lender["id"], name="Everywhere licensed",
                                rules={**RULES, "regions": []})
    not_shanghai = create_product(lender["id"], name="Not Shanghai",
                                  rules={**RULES, "regions": [],
                                         "regions_excluded": ["CN-SH"]})
    first = apply().json
    assert [r["product"]["id"] for r in first["routed"]] == [nationwide["id"]]
    assert first["not_routed"] == {"region_not_served": 1}

    # The institution loses its Shanghai licence: its products stop serving Shanghai even
    # though their own region lists were not edited.
    changed = client.patch(f"/v1/institutions/{lender['id']}",
                           json={"licensed_regions": ["CN-ZJ"]}, headers=ops)
    assert changed.status_code == 200
    second = apply(application_body(applicant={"external_id": "u-456"})).json
    assert second["status"] == "no_match"
    assert second["not_routed"] == {"region_not_served": 2}
    assert not_shanghai["id"] in client.get(
        f"/v1/applications/{second['id']}/trace", headers=ops
    ).json["waves"][0]["excluded"]["region_not_served"]


def test_day_terms_and_month_terms_compare_in_days(apply, create_institution,
                                                   create_product):
    lender = create_institution()
    thirty_days = create_product(lender["id"], term_min=7, term_max=30, term_unit="day",
                                 amount_min=500, amount_max=5000, rules=RULES)
    one_month = apply(application_body(request={"term": 1})).json
    assert [r["product"]["id"] for r in one_month["routed"]] == [thirty_days["id"]]
    two_months = apply(application_body(applicant={"external_id": "u-2"},
                                        request={"term": 2})).json
    assert two_months["not_routed"] == {"term_out_of_range": 1}
