"""Signing in to the console with an ops API key.

The session cookie (signed with ``SECRET_KEY``; HttpOnly, SameSite=Strict, path ``/ops``)
holds the key's id, never the key. Every request looks the key up again, so revoking it
signs its sessions out at once. Every form carries the session's CSRF token."""

import hmac
import secrets

from flask import request, session

from core import audit
from core.db import get_session, transaction
from core.keys import ApiKey, authenticate
from core.principal import Principal, Role

KEY_ID = "ops_key_id"
CSRF = "csrf"


def csrf_token() -> str:
    if CSRF not in session:
        session[CSRF] = secrets.token_urlsafe(32)
    return session[CSRF]


def csrf_valid() -> bool:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get(CSRF)
    return bool(expected) and hmac.compare_digest(sent, expected)


def sign_in(key: str) -> Principal | None:
    """The ops principal the key stands for, now signed in; None for any other key."""
    db = get_session()
    who = authenticate(db, key.strip())
    if who is None or who.role != Role.OPS:
        return None
    session.clear()
    session.permanent = True
    session[KEY_ID] = who.key_id
    session[CSRF] = secrets.token_urlsafe(32)  # a new session gets a new token
    with transaction(db):
        audit.record(db, who, "sign_in", "api_key", who.key_id,
                     after={"via": "ops console", "address": request.remote_addr})
    return who


def signed_in() -> Principal | None:
    key_id = session.get(KEY_ID)
    if key_id is None:
        return None
    row = get_session().get(ApiKey, key_id)
    if row is None or row.revoked_at is not None or row.role != Role.OPS:
        session.pop(KEY_ID, None)
        return None
    return Principal(row.id, row.role, None, row.label)


def sign_out() -> None:
    session.clear()
