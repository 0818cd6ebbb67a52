"""Schemathesis against /openapi.json: every operation, with each role's valid key, never
answers 5xx and every answer matches the documented schema (status, headers, body)."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from core.principal import Role

# Bounded for CI; LENDMATCH_FUZZ_EXAMPLES=200 for a longer hunt.
EXAMPLES = int(os.environ.get("LENDMATCH_FUZZ_EXAMPLES", "12"))
# What a schema can say. Cross-field rules (``until`` after ``since``, ``amount_min`` below
# ``amount_max``) are not in it, so a schema-valid request may still rightly get 422; and
# unknown query parameters are ignored, as most APIs do, rather than refused.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def _operations() -> list[str]:
    # Only the spec is read, which needs no database.
    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True})
    spec = app.test_client().get("/openapi.json").json
    return [f"{method.upper()} {path}" for path, methods in spec["paths"].items()
            for method in methods if method in {"get", "post", "patch", "put", "delete"}]


@pytest.fixture
def role_keys(make_key, create_institution, create_product):
    lender = create_institution()
    create_product(lender["id"])
    return [make_key(Role.OPS), make_key(Role.BORROWER_APP),
            make_key(Role.INSTITUTION, lender["id"])]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", _operations())
def test_every_operation_with_every_key(app, role_keys, label, mode):
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app).find_operation_by_label(label)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        for headers in role_keys:
            case.call_and_validate(headers=headers, checks=CHECKS)

    check()
