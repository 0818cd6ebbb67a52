"""The catalogue of loan products: ranges, eligibility rules, caps, ops weight, status."""

from flask import Flask

from core.api import api_of


def init_app(app: Flask) -> None:
    from products.catalogue_version import track_changes
    from products.demo import seed_demo_command
    from products.views import blp

    track_changes(app.extensions["lendmatch.sessions"])
    api_of(app).register_blueprint(blp)
    app.cli.add_command(seed_demo_command)
