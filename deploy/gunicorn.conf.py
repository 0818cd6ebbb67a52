"""gunicorn settings for lendmatch's web workers:
``gunicorn --config deploy/gunicorn.conf.py 'app:create_app()'``.

Every value can be overridden from the environment (``LENDMATCH_BIND``,
``LENDMATCH_WEB_WORKERS``, ``LENDMATCH_WEB_TIMEOUT``) or on the command line. The scheduler
is a separate process (``flask --app app scheduler``), exactly one per deployment: never
start APScheduler here, or every worker would run every job.
"""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("LENDMATCH_BIND", "127.0.0.1:8000")
# Routing is CPU-bound numpy work between short database round trips: sync workers, about
# two per core.
workers = int(os.environ.get("LENDMATCH_WEB_WORKERS", 2 * multiprocessing.cpu_count() + 1))
worker_class = "sync"
timeout = int(os.environ.get("LENDMATCH_WEB_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that no leak grows for ever; jitter so they do not all
# restart at once.
max_requests = 20000
max_requests_jitter = 2000
# Load the app once in the master (a bad setting fails the start, not each worker), then
# fork. The database pool is not shared across the fork: see post_fork.
preload_app = True
# Request size limits before Flask sees the request (Flask then caps bodies at
# LENDMATCH_MAX_BODY_BYTES).
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# lendmatch writes its own JSON access line per request (observability.logs).
accesslog = None
errorlog = "-"
loglevel = "info"
forwarded_allow_ips = os.environ.get("LENDMATCH_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Prometheus multiprocess mode: each worker writes its metrics to files here and /metrics
# sums them. Set, and emptied of a previous run's files (which would be summed in), when
# gunicorn reads this file: before the app and prometheus_client are imported.
metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    os.path.join(tempfile.gettempdir(), f"lendmatch-metrics-{bind.replace(':', '-')}"))
shutil.rmtree(metrics_dir, ignore_errors=True)
os.makedirs(metrics_dir, exist_ok=True)


def post_fork(server, worker):
    # The master built the engine when it loaded the app; its pooled connections (if any)
    # must not be shared with the children. Each worker starts with an empty pool.
    flask_app = getattr(worker.app, "callable", None)
    if flask_app is not None:
        flask_app.extensions["lendmatch.engine"].dispose(close=False)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
