"""Routing an application to the few products most likely to approve it: eligibility over
compiled catalogue arrays, approval odds, exact capacity-aware selection, and a trace of
every decision."""

from flask import Flask

from core.api import api_of


def init_app(app: Flask) -> None:
    from matching.routing_context import RoutingContext
    from matching.views import blp

    app.extensions["lendmatch.routing"] = RoutingContext.from_config(app.config)
    api_of(app).register_blueprint(blp)
