"""The ops console: server-rendered pages under ``/ops`` for the people who tune the
catalogue. Sign in with an ops key; every change goes through the same services, checks
and audit log as the API. Chart.js is served from ``console/static/vendor``: no CDN and no
front-end build step."""

import os
import secrets
from datetime import timedelta

from flask import Flask

SESSION_HOURS = 8


def init_app(app: Flask) -> None:
    from console import catalogue, operations, overview  # noqa: F401  (they add routes)
    from console.blueprint import bp

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app.instance_path)
    app.config.update(
        SESSION_COOKIE_NAME="lendmatch_ops",
        SESSION_COOKIE_PATH="/ops",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    app.register_blueprint(bp)


def _instance_secret(instance_path: str) -> str:
    """One random key per instance folder, shared by the workers of this host; created
    by whichever starts first. Several hosts must share ``LENDMATCH_SECRET_KEY``."""
    path = os.path.join(instance_path, "secret_key")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as existing:
            key = existing.read().strip()
        if key:
            return key
        raise RuntimeError(f"{path} is empty; delete it or set LENDMATCH_SECRET_KEY") from None
    key = secrets.token_hex(32)
    with os.fdopen(descriptor, "w") as created:
        created.write(key)
    return key
