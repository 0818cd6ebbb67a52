from openapi_spec_validator import validate


def test_openapi_is_valid_and_documents_the_contract(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, methods in {"/v1/institutions": {"get", "post"},
                          "/v1/institutions/{institution_id}": {"get", "patch"},
                          "/v1/products": {"get", "post"},
                          "/v1/products/{product_id}": {"get", "patch"},
                          "/v1/audit": {"get"},
                          "/v1/applications": {"post"},
                          "/v1/applications/{application_id}": {"get"},
                          "/v1/applications/{application_id}/trace": {"get"}}.items():
        assert methods <= set(spec["paths"][path]), path
        for method in methods:
            assert {"401", "403"} <= set(spec["paths"][path][method]["responses"])
    product = spec["components"]["schemas"]["ProductIn"]["properties"]
    assert {"institution_id", "name", "type", "amount_min", "amount_max", "term_min",
            "term_max", "term_unit", "apr_min", "apr_max", "rules", "daily_application_cap",
            "daily_funding_cap", "weight", "status"} <= set(product)
    application = spec["components"]["schemas"]["ApplicationIn"]
    assert {"applicant", "request", "channel", "consent"} <= set(application["required"])
    apply = spec["paths"]["/v1/applications"]["post"]
    assert {"201", "200", "409", "422"} <= set(apply["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" and p["required"]
               for p in apply["parameters"])
    rules = spec["components"]["schemas"]["RulesIn"]["properties"]
    assert {"age_min", "age_max", "income_min", "score_min", "accepts_no_score", "dti_max",
            "regions", "regions_excluded", "employment", "channels", "borrowers"} == set(rules)


def test_docs_ui_is_served_without_a_cdn(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert b"/docs/assets/swagger-ui-bundle.js" in page.data
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.data) > 100_000
    script.close()
