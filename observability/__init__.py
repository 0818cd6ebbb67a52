"""Keeping watch on a running service: ``/healthz`` and ``/readyz`` for the load balancer
and orchestrator, Prometheus metrics at ``/metrics``, and JSON logs carrying a request id."""

from flask import Flask


def init_app(app: Flask) -> None:
    from observability import health, logs, metrics

    logs.init_app(app)
    metrics.init_app(app)
    app.register_blueprint(health.bp)
