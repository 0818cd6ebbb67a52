"""The institution side: delivery of routings (inbox and signed webhooks), decisions,
offers and acceptance, funding and repayments, cascading waves, expiry, and the event
log that learning will read."""

from flask import Flask

from core.api import api_of


def init_app(app: Flask) -> None:
    from feedback.cli import (
        check_invariants_command,
        deliver_webhooks_command,
        expire_command,
    )
    from feedback.views import deliveries_blp, institution_blp, offers_blp

    api = api_of(app)
    api.register_blueprint(institution_blp)
    api.register_blueprint(offers_blp)
    api.register_blueprint(deliveries_blp)
    app.cli.add_command(expire_command)
    app.cli.add_command(deliver_webhooks_command)
    app.cli.add_command(check_invariants_command)
