"""The HTTP API object: flask-smorest set-up, authentication, errors, versions, paging."""

import hashlib
from collections.abc import Callable
from functools import wraps

import orjson
from flask import Flask, current_app, g, request, send_from_directory
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.error_handler import ErrorSchema
from flask_smorest.pagination import PaginationParameters
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import default_exceptions

from core import rate_limits
from core.db import get_session, rerun_on_conflict
from core.errors import Forbidden, InvalidInput, LendmatchError, Unauthenticated
from core.keys import authenticate
from core.principal import Principal, Role

API_TITLE = "lendmatch"
API_VERSION = "v1"


def init_app(app: Flask) -> Api:
    import swagger_ui_bundle

    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
        API_SPEC_OPTIONS={
            "info": {"description": "Route loan applicants to the institutions most likely "
                                    "to approve them. Every call needs "
                                    "`Authorization: Bearer <key>`."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    api = Api(app)
    app.extensions["lendmatch.api"] = api

    # Swagger UI's scripts are served from the installed package: no CDN needed.
    assets = str(swagger_ui_bundle.swagger_ui_path)
    app.add_url_rule("/docs/assets/<path:filename>", "docs_assets",
                     lambda filename: send_from_directory(assets, filename))

    def handle_domain_error(error: LendmatchError):
        http_error = default_exceptions[error.status]()
        http_error.data = {"message": error.message}
        if error.errors is not None:
            http_error.data["errors"] = error.errors
        if error.headers:
            http_error.data["headers"] = error.headers
        return api.handle_http_exception(http_error)

    def handle_database_unavailable(error: OperationalError):
        # The driver's error class (DeadlockDetected, AdminShutdown, ...) and never its
        # message, which may quote the statement's data.
        cause = getattr(error, "orig", None)
        current_app.logger.warning("database unavailable: %s (%s)", error.__class__.__name__,
                                   cause.__class__.__name__ if cause is not None else "-")
        http_error = default_exceptions[503]()
        http_error.data = {"message": "the database is unavailable; retry shortly",
                           "headers": {"Retry-After": "1"}}
        return api.handle_http_exception(http_error)

    def handle_too_large(error):
        error.data = {"message": f"the request body is over "
                                 f"{app.config['MAX_CONTENT_LENGTH']} bytes"}
        return api.handle_http_exception(error)

    app.register_error_handler(LendmatchError, handle_domain_error)
    app.register_error_handler(413, handle_too_large)
    # The database restarting, unreachable, or every pooled connection busy: retriable.
    for error_type in (OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(error_type, handle_database_unavailable)
    return api


class Blueprint(SmorestBlueprint):
    """flask-smorest's blueprint, with ``X-Pagination`` documented as what it is: a JSON
    object in a header (``content``), not a header in the ``simple`` style that a
    ``schema`` of type object would declare."""

    def _document_pagination_metadata(self, spec, resp_doc):
        fields = ("total", "total_pages", "first_page", "last_page", "page", "previous_page",
                  "next_page")
        resp_doc.setdefault("headers", {})[self.PAGINATION_HEADER_NAME] = {
            "description": "Pagination metadata, as JSON",
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {name: {"type": "integer"} for name in fields}}}},
        }


def api_of(app: Flask) -> Api:
    return app.extensions["lendmatch.api"]


def require(blueprint, *roles: Role) -> Callable:
    """Authenticate the bearer key and allow only ``roles``; the caller lands in
    ``g.principal``. Put it above the flask-smorest decorators so that it runs first.
    A request the database aborted to break a deadlock is run again (a client would
    retry its 503 anyway), so the client sees it only as a little latency."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.principal = _authenticated()
            rate_limits.take(current_app.extensions["lendmatch.engine"], g.principal.key_id,
                             current_app.config["RATE_LIMIT_PER_MINUTE"])
            if g.principal.role not in roles:
                raise Forbidden(f"a {g.principal.role.value} key may not do this; "
                                f"allowed: {', '.join(r.value for r in roles)}")
            return rerun_on_conflict(lambda: view(*args, **kwargs), get_session(),
                                     on_rerun=_log_rerun)

        wrapper = blueprint.alt_response(401, response="DEFAULT_ERROR",
                                         description="no key, or a bad or revoked key")(wrapper)
        wrapper = blueprint.alt_response(403, response="DEFAULT_ERROR",
                                         description="this role may not call it")(wrapper)
        wrapper = blueprint.alt_response(429, schema=ErrorSchema, headers=RETRY_AFTER,
                                         description="over this key's requests per minute; "
                                                     "Retry-After says when to retry")(wrapper)
        return blueprint.alt_response(503, schema=ErrorSchema, headers=RETRY_AFTER,
                                      description="the database is unavailable for a moment "
                                                  "(e.g. restarting); retry after "
                                                  "Retry-After")(wrapper)

    return decorator


def _log_rerun(error: BaseException, attempt: int) -> None:
    current_app.logger.warning("database conflict: %s (%s); running the request again "
                               "(attempt %d)", error.__class__.__name__,
                               error.orig.__class__.__name__, attempt)


def _authenticated() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated()
    principal = authenticate(get_session(), key.strip())
    if principal is None:
        raise Unauthenticated("the API key is unknown or revoked")
    return principal


def principal() -> Principal:
    return g.principal


def expected_version() -> int | None:
    """The version a client's ``If-Match`` names (``"3"``, ``W/"3"``, ``3``), if any."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise InvalidInput({"If-Match": ["must be the object's version, e.g. \"3\""]},
                           location="headers")
    return int(value)


RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                               "schema": {"type": "integer"}}}

ETAG_HEADER = {"ETag": {"description": "the object's version, for If-Match",
                        "schema": {"type": "string"}}}


def etag(version: int) -> dict:
    return {"ETag": f'"{version}"'}


# Past any real table's end, and within every database's OFFSET range (SQLite's is 64-bit):
# a page number beyond it is an empty page, not an integer overflow.
MAX_OFFSET = 2**53


def window(params: PaginationParameters) -> dict:
    return {"offset": min(params.first_item, MAX_OFFSET), "limit": params.page_size}


def body_hash() -> str:
    """The body as JSON with sorted keys: a retry that reorders fields is the same body."""
    canonical = orjson.dumps(request.get_json(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
