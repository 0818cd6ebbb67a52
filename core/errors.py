"""The one exception tree of lendmatch.

Every error a client can cause is a ``LendmatchError`` carrying its HTTP status; the API
turns it into flask-smorest's standard body ``{"code", "status", "message", "errors"}``.
Services raise these; views never build error responses themselves.
"""


class LendmatchError(Exception):
    status = 500
    default_message = "internal error"

    def __init__(self, message: str | None = None, *, errors: dict | None = None,
                 headers: dict | None = None):
        self.message = message or self.default_message
        self.errors = errors
        self.headers = headers
        super().__init__(self.message)


class ConfigurationError(LendmatchError):
    """The service is misconfigured (raised at start-up, never for a request)."""


class Unauthenticated(LendmatchError):
    status = 401
    default_message = "a valid API key is required: Authorization: Bearer <key>"

    def __init__(self, message: str | None = None):
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(LendmatchError):
    status = 403
    default_message = "this key's role may not do this"


class NotFound(LendmatchError):
    status = 404
    default_message = "not found"


class Conflict(LendmatchError):
    status = 409
    default_message = "conflict"


class StaleVersion(Conflict):
    default_message = "the object changed since you read it"


class InvalidInput(LendmatchError):
    """Bad input, reported per field under ``errors[location][field]``."""

    status = 422
    default_message = "invalid input"

    def __init__(self, field_errors: dict, *, location: str = "json",
                 message: str | None = None):
        super().__init__(message, errors={location: field_errors})


class IdempotencyKeyReused(Conflict):
    default_message = ("this Idempotency-Key was already used with a different body; "
                       "use a new key for a new request")


class RateLimited(LendmatchError):
    """Too many requests for this key in the current window; ``Retry-After`` says when the
    next one is let through."""

    status = 429
    default_message = "too many requests for this API key"

    def __init__(self, limit: int, retry_after: int):
        super().__init__(f"this API key may make {limit} requests a minute; "
                         f"retry in {retry_after} s", headers={"Retry-After": str(retry_after)})

