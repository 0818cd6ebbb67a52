"""Learning from feedback: approval, take-up and repayment models, routing weights,
capacity prices, and the calibration report."""

from flask import Flask

from core.api import api_of


def init_app(app: Flask) -> None:
    from learning.cli import calibration_command
    from learning.views import blp

    api_of(app).register_blueprint(blp)
    app.cli.add_command(calibration_command)
