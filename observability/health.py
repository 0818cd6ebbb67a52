"""``/healthz``: the process answers. ``/readyz``: it can serve, meaning the database
answers, its schema is at the newest migration, and the catalogue compiles (which also
warms this worker's copy before traffic arrives). Neither needs a key, and neither says
more than a load balancer needs."""

import time

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.cli import alembic_config
from core.db import new_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def alive():
    return jsonify(status="alive")


@bp.get("/readyz")
def ready():
    checks, ready_ = {}, True
    started = time.perf_counter()
    try:
        with new_session() as session:
            session.execute(text("SELECT 1"))
            checks["database"] = "ok"
            revision = MigrationContext.configure(session.connection()).get_current_revision()
            head = _head()
            checks["migrations"] = "ok" if revision == head else \
                f"at {revision or 'nothing'}, head is {head}; run flask --app app db upgrade"
            ready_ &= revision == head
            if revision == head:
                catalogue = current_app.extensions["lendmatch.routing"].cache.get(session)
                checks["catalogue"] = f"ok (version {catalogue.version}, " \
                                      f"{len(catalogue.product_id)} products)"
    except SQLAlchemyError as error:
        current_app.logger.warning("not ready: %s", error.__class__.__name__)
        checks.setdefault("database", "unreachable")
        ready_ = False
    checks["seconds"] = round(time.perf_counter() - started, 4)
    response = jsonify(status="ready" if ready_ else "not ready", checks=checks)
    if not ready_:
        response.status_code = 503
        response.headers["Retry-After"] = "1"
    return response


def _head() -> str:
    head = current_app.extensions.get("lendmatch.migration_head")
    if head is None:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        current_app.extensions["lendmatch.migration_head"] = head
    return head
