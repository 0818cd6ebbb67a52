"""Prometheus metrics at ``/metrics``.

Per process, summed over a host's gunicorn workers in multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``deploy/gunicorn.conf.py``):

* ``lendmatch_http_requests_total{method,route,status}`` and
  ``lendmatch_http_request_seconds{method,route}``: requests and latency by endpoint
  (the route's template, so ids do not make new series);
* ``lendmatch_routings_total``, ``lendmatch_decisions_total{decision}``,
  ``lendmatch_cascades_total`` (next waves routed after a wave ended without approval) and
  ``lendmatch_events_total{type}``: counted from the event log's rows once their
  transaction commits, so a rolled-back request counts nothing.

From the database when scraped, the same on every host (they describe the cluster):

* ``lendmatch_job_runs{job,status}`` and ``lendmatch_job_last_finished_seconds{job}``;
* ``lendmatch_model_version{kind}``: the newest learned model's id per kind.

With ``LENDMATCH_METRICS_TOKEN`` set, a scrape must present it as a bearer token.
"""

import hmac
import os
import time

from flask import Flask, Response, current_app, g, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError

from feedback.events import WRITTEN
from feedback.models import EventType

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Metrics:
    """This app's collectors. In multiprocess mode each process writes its values to files
    that ``/metrics`` sums; otherwise they live in this app's own registry (so that the
    tests' many apps in one process do not collide in the global one)."""

    def __init__(self, sessions):
        self.registry = CollectorRegistry()
        own = None if multiprocess_mode() else self.registry
        self.requests = Counter("lendmatch_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=own)
        self.latency = Histogram("lendmatch_http_request_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=own)
        self.routings = Counter("lendmatch_routings", "products routed to", registry=own)
        self.decisions = Counter("lendmatch_decisions", "institutions' decisions",
                                 ["decision"], registry=own)
        self.cascades = Counter("lendmatch_cascades",
                                "next waves routed after a wave ended without approval",
                                registry=own)
        self.events = Counter("lendmatch_events", "event log rows committed", ["type"],
                              registry=own)
        self.database = DatabaseCollector(sessions)
        if own is not None:
            self.registry.register(self.database)

    def count_committed(self, written) -> None:
        cascades = set()
        for type_, wave, application_id in written:
            self.events.labels(str(type_)).inc()
            if type_ == EventType.ROUTED:
                self.routings.inc()
                if wave and wave > 1:
                    cascades.add((application_id, wave))
            elif type_ in (EventType.APPROVED, EventType.DECLINED):
                self.decisions.labels(str(type_)).inc()
        if cascades:
            self.cascades.inc(len(cascades))

    def exposition(self) -> bytes:
        if not multiprocess_mode():
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(self.database)
        return generate_latest(registry)


class DatabaseCollector:
    """Job runs and model versions, read from the database at scrape time."""

    def __init__(self, sessions):
        self.sessions = sessions

    def collect(self):
        from jobs.models import JobRun
        from learning.models import LearnedModel

        runs = GaugeMetricFamily("lendmatch_job_runs", "job runs recorded, by outcome",
                                 labels=["job", "status"])
        last = GaugeMetricFamily("lendmatch_job_last_finished_seconds",
                                 "when each job last finished (Unix time)", labels=["job"])
        models = GaugeMetricFamily("lendmatch_model_version",
                                   "the newest learned model's id, per kind", labels=["kind"])
        try:
            with self.sessions() as session:
                for job, status, count in session.execute(
                        select(JobRun.job, JobRun.status, func.count())
                        .group_by(JobRun.job, JobRun.status)):
                    runs.add_metric([job, str(status)], count)
                for job, finished in session.execute(
                        select(JobRun.job, func.max(JobRun.finished_at)).group_by(JobRun.job)):
                    if finished is not None:
                        last.add_metric([job], _timestamp(finished))
                for kind, newest in session.execute(
                        select(LearnedModel.kind, func.max(LearnedModel.id))
                        .group_by(LearnedModel.kind)):
                    models.add_metric([str(kind)], newest)
        except SQLAlchemyError:
            # A scrape while the database is down still returns the per-process metrics.
            return
        yield runs
        yield last
        yield models


def _timestamp(value) -> float:
    # SQLite hands back strings for aggregate datetimes.
    if isinstance(value, str):
        from datetime import UTC, datetime

        value = datetime.fromisoformat(value)
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.timestamp()


def init_app(app: Flask) -> None:
    sessions = app.extensions["lendmatch.sessions"]
    metrics = Metrics(sessions)
    app.extensions["lendmatch.metrics"] = metrics

    @event.listens_for(sessions, "after_commit")
    def _committed(session):
        written = session.info.pop(WRITTEN, None)
        if written:
            metrics.count_committed(written)

    @event.listens_for(sessions, "after_soft_rollback")
    def _rolled_back(session, _previous):
        session.info.pop(WRITTEN, None)

    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", _serve)


def _start_timer() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response):
    if request.endpoint == "metrics":
        return response
    metrics = current_app.extensions["lendmatch.metrics"]
    route = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.requests.labels(request.method, route, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
    return response


def _serve():
    token = current_app.config["METRICS_TOKEN"]
    if token and not _presents(token):
        answer = jsonify(code=401, status="Unauthorized",
                         message="this server's metrics need its metrics token: "
                                 "Authorization: Bearer <LENDMATCH_METRICS_TOKEN>")
        answer.status_code = 401
        answer.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return answer
    body = current_app.extensions["lendmatch.metrics"].exposition()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def _presents(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())
