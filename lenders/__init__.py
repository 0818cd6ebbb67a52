"""Partner institutions: who lends, where they are licensed, their SLA, caps and budget."""

from flask import Flask

from core.api import api_of


def init_app(app: Flask) -> None:
    from lenders.views import blp

    api_of(app).register_blueprint(blp)
