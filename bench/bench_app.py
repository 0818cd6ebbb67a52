"""The app as gunicorn runs it in the routing benchmark, plus a bare endpoint to compare
with: ``POST /bench/bare`` authenticates the key as every endpoint of the app does,
validates the same application body, and inserts one row."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask.views import MethodView  # noqa: E402
from flask_smorest import Blueprint  # noqa: E402
from marshmallow import Schema, fields  # noqa: E402
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, insert  # noqa: E402

from app import create_app  # noqa: E402
from core.api import api_of, require  # noqa: E402
from core.db import UTCDateTime, get_session, transaction, utcnow  # noqa: E402
from core.principal import Role  # noqa: E402
from matching.schemas import ApplicationIn  # noqa: E402

BARE_ROWS = Table("bench_bare_rows", MetaData(),
                  Column("id", Integer, primary_key=True),
                  Column("external_id", String(100)),
                  Column("body", JSON),
                  Column("created_at", UTCDateTime))


class BareOut(Schema):
    id = fields.Integer()


def create():
    app = create_app()
    blp = Blueprint("bench", __name__, url_prefix="/bench")

    @blp.route("/bare")
    class Bare(MethodView):
        @require(blp, Role.BORROWER_APP)
        @blp.arguments(ApplicationIn)
        @blp.response(201, BareOut)
        def post(self, body):
            session = get_session()
            with transaction(session):
                row = session.connection().execute(
                    insert(BARE_ROWS).returning(BARE_ROWS.c.id),
                    {"external_id": body["applicant"]["external_id"],
                     "body": {"applicant": body["applicant"], "request": body["request"]},
                     "created_at": utcnow()}).scalar_one()
            return {"id": row}

    api_of(app).register_blueprint(blp)
    return app
