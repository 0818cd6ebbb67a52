"""What every lendmatch capability stands on: configuration, the database, errors,
API keys and roles, the audit log, and the HTTP API object."""

from flask import Flask


def init_app(app: Flask) -> None:
    from core import api, cli, db, views

    db.init_app(app)
    api.init_app(app)
    api.api_of(app).register_blueprint(views.audit_blp)
    api.api_of(app).register_blueprint(views.keys_blp)
    app.cli.add_command(cli.db_group)
    app.cli.add_command(cli.create_key)
    app.cli.add_command(cli.revoke_key)
