"""Sustained load on the production shape: gunicorn + PostgreSQL + the scheduler, on
localhost, then the invariant checker.

    python bench/load.py                    # 5 minutes at 10 applications/s
    python bench/load.py --seconds 60 --rate 5 --workers 3

What runs:

* a throwaway PostgreSQL server (always one of its own: ``bench/faults.py`` restarts it),
  migrated and seeded with the demo catalogue (130 institutions, 475 products);
* gunicorn with ``deploy/gunicorn.conf.py`` and one scheduler process
  (``flask --app app scheduler``), exactly as in production;
* borrower apps applying at a fixed rate (open loop: arrivals do not wait for answers);
* institutions deciding: half by webhook (a local receiver; deliveries are signed and sent
  by the scheduler), half by pulling their inbox; each approves about half;
* borrowers taking the best offer (70% of those with one) and the institution funding it.

Clients behave as the API asks: a 503 or 429 is retried after ``Retry-After``, a dropped
connection is retried, and an application is always retried with the same
``Idempotency-Key``. It reports throughput, p50/p99 per endpoint, the answers by status,
errors (any 5xx other than a 503, and requests that never got an answer), then checks that
no application was lost and runs ``flask --app app check-invariants``. The last line is
JSON. ``bench/faults.py`` runs the same load while breaking things.
"""

import argparse
import collections
import contextlib
import itertools
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, os.path.dirname(__file__))
from postgres_server import create_database, free_port, throwaway_cluster  # noqa: E402

from feedback import webhooks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "load-test-webhook-secret"
REGIONS = ["CN-SH", "CN-BJ", "CN-GD", "CN-ZJ", "CN-JS", "CN-SC", "CN-HB", "CN-SD"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- the service

class Service:
    """gunicorn and the scheduler on one database, started and stopped as processes."""

    def __init__(self, database_url: str, workers: int, extra_env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.workers = workers
        self.env = {**os.environ, "DATABASE_URL": database_url,
                    "LENDMATCH_BIND": f"127.0.0.1:{self.port}",
                    "LENDMATCH_WEB_WORKERS": str(workers),
                    "LENDMATCH_WEBHOOK_RETRY_SECONDS": "1",
                    "LENDMATCH_RATE_LIMIT_PER_MINUTE": "600000",
                    "LENDMATCH_LOG_LEVEL": "WARNING",
                    "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"lendmatch-load-{self.port}"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.web = self.scheduler = None
        self.open_logs = []

    def flask(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args],
                              cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout + (f"\n[exit {done.returncode}]" if done.returncode else "")

    def start_web(self) -> None:
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
             "app:create_app()"], cwd=ROOT, env=self.env,
            stdout=self.log_file("web.log"), stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not become ready; see {self.logs / 'web.log'}")

    def start_scheduler(self) -> None:
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "scheduler"], cwd=ROOT,
            env=self.env, stdout=self.log_file("scheduler.log"), stderr=subprocess.STDOUT)

    def log_file(self, name: str):
        handle = (self.logs / name).open("ab")
        self.open_logs.append(handle)
        return handle

    def worker_pids(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.web.pid)], capture_output=True,
                               text=True).stdout.split()
        return [int(pid) for pid in found]

    def stop(self) -> None:
        for process in (self.scheduler, self.web):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.scheduler, self.web):
            if process is not None:
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
        for handle in self.open_logs:
            handle.close()
        self.open_logs = []


# --------------------------------------------------------------------------- the clients

class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency = collections.defaultdict(list)      # endpoint -> seconds (answered)
        self.statuses = collections.Counter()              # (endpoint, status)
        self.unanswered = collections.Counter()            # endpoint -> gave up
        self.connection_errors = 0
        self.retry_after_missing = 0
        self.bad_bodies = []                               # 5xx bodies other than 503
        self.timeline = []                                 # (t, endpoint, status)

    def record(self, endpoint: str, status: int, seconds: float, response) -> None:
        with self.lock:
            self.latency[endpoint].append(seconds)
            self.statuses[(endpoint, status)] += 1
            self.timeline.append((time.time(), endpoint, status))
            if status in (429, 503) and "Retry-After" not in response.headers:
                self.retry_after_missing += 1
            if status >= 500 and status != 503 and len(self.bad_bodies) < 20:
                self.bad_bodies.append((endpoint, status, response.text[:500]))


class Client:
    """One HTTP session per thread; retries what the API says is retriable."""

    def __init__(self, base_url: str, recorder: Recorder, give_up_after: float = 90.0):
        self.base_url, self.recorder = base_url, recorder
        self.give_up_after = give_up_after
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def call(self, endpoint: str, method: str, path: str, key: str, body=None,
             headers: dict | None = None, query: dict | None = None):
        """The final answer, or None if none came within ``give_up_after`` seconds."""
        headers = {"Authorization": f"Bearer {key}", **(headers or {})}
        started = time.time()
        while time.time() - started < self.give_up_after:
            sent = time.perf_counter()
            try:
                response = self.session().request(method, self.base_url + path, json=body,
                                                  headers=headers, params=query, timeout=30)
            except requests.RequestException:
                with self.recorder.lock:
                    self.recorder.connection_errors += 1
                self.local.session = requests.Session()
                time.sleep(0.5)
                continue
            self.recorder.record(endpoint, response.status_code,
                                 time.perf_counter() - sent, response)
            if response.status_code in (429, 503):
                time.sleep(min(float(response.headers.get("Retry-After", "1")), 5.0))
                continue
            return response
        with self.recorder.lock:
            self.recorder.unanswered[endpoint] += 1
        return None


# --------------------------------------------------------------------------- the market

class Market:
    """Borrower apps, institutions and borrowers acting on the running service."""

    def __init__(self, client: Client, keys: dict, products: dict, rate: float,
                 webhook_port: int, seed: int = 7):
        self.client = client
        self.ops, self.app_key = keys["ops"], keys["borrower_app"]
        self.institution_keys = keys["institutions"]          # id -> key
        self.webhook_institutions = keys["webhook_institutions"]
        self.products = products                               # id -> product
        self.rate = rate
        self.random = random.Random(seed)
        self.random_lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=48)
        self.stopping = threading.Event()
        self.later = queue.PriorityQueue()                     # (due, n, fn)
        self.counter = itertools.count()
        self.lock = threading.Lock()
        self.sent_keys = {}               # idempotency key -> application id or None
        self.deciding = set()
        self.counts = collections.Counter()
        self.webhook_server = None
        self.webhook_port = webhook_port
        self.webhooks_received = 0

    def chance(self, p: float) -> bool:
        with self.random_lock:
            return self.random.random() < p

    # borrower apps ---------------------------------------------------------------
    def application_body(self, n: int) -> dict:
        with self.random_lock:
            r = self.random
            short = r.random() < 0.3
            score = None if r.random() < 0.7 else r.randint(550, 800)
            return {
                "applicant": {"external_id": f"load-{n}", "age": r.randint(20, 55),
                              "region": r.choice(REGIONS),
                              "monthly_income": r.randint(3000, 30000),
                              "employment": r.choice(["salaried", "salaried",
                                                      "self_employed"]),
                              "credit_score": score, "monthly_debt": r.randint(0, 3000),
                              "first_loan": r.random() < 0.5,
                              "signals": {"device_age_days": r.randint(10, 900)}},
                "request": ({"amount": r.randint(5, 50) * 100, "term": r.choice([7, 14, 30]),
                             "term_unit": "day", "purpose": "consumption"} if short else
                            {"amount": r.randint(2, 30) * 1000, "term": r.choice([3, 6, 12, 24]),
                             "term_unit": "month", "purpose": "consumption"}),
                "channel": r.choice(["app", "ecommerce", "app"]),
                "consent": {"version": "2026-01",
                            "given_at": datetime.now(UTC).isoformat()},
            }

    def apply(self, n: int) -> None:
        key = f"load-{n}"
        with self.lock:
            self.sent_keys[key] = None
        response = self.client.call("POST /v1/applications", "POST", "/v1/applications",
                                    self.app_key, self.application_body(n),
                                    headers={"Idempotency-Key": key})
        if response is None or response.status_code != 201:
            return
        application = response.json()
        with self.lock:
            self.sent_keys[key] = application["id"]
            self.counts["applications"] += 1
            self.counts[f"applications_{application['status']}"] += 1
        self.after(5, lambda: self.borrower_looks(application["id"], 0))

    # institutions ----------------------------------------------------------------
    def decide(self, institution_id: int, routing: dict) -> None:
        with self.lock:
            if routing["id"] in self.deciding:
                return
            self.deciding.add(routing["id"])
        product = self.products[routing["product"]["id"]]
        if self.chance(0.5):
            request = routing["request"]
            term = request["term"] if request["term_unit"] == product["term_unit"] \
                else product["term_min"]
            ceiling = min(product["apr_max"], 0.24)
            body = {"decision": "approve",
                    "amount": min(max(request["amount"], product["amount_min"]),
                                  product["amount_max"]),
                    "apr": round(product["apr_min"] + 0.3 * (ceiling - product["apr_min"]), 4),
                    "term": min(max(term, product["term_min"]), product["term_max"]),
                    "term_unit": product["term_unit"],
                    "offer_expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}
        else:
            body = {"decision": "decline", "reasons": ["score_too_low"]}
        response = self.client.call(
            "POST /v1/institution/routings/{id}/decision", "POST",
            f"/v1/institution/routings/{routing['id']}/decision",
            self.institution_keys[institution_id], body)
        if response is not None and response.status_code in (200, 201):
            with self.lock:
                self.counts[f"decisions_{body['decision']}"] += 1

    def pull(self) -> None:
        pulling = [i for i in self.institution_keys if i not in self.webhook_institutions]
        while not self.stopping.is_set():
            for institution_id in pulling:
                if self.stopping.is_set():
                    return
                response = self.client.call(
                    "GET /v1/institution/routings", "GET", "/v1/institution/routings",
                    self.institution_keys[institution_id],
                    query={"status": "pending", "limit": 100})
                if response is not None and response.status_code == 200:
                    for routing in response.json()["items"]:
                        self.submit(self.decide, institution_id, routing)
            time.sleep(1.0)

    def serve_webhooks(self) -> None:
        market = self

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not webhooks.verify(WEBHOOK_SECRET,
                                       self.headers.get(webhooks.SIGNATURE_HEADER, ""), body):
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(200)
                self.end_headers()
                event = json.loads(body)
                institution_id = int(self.path.rsplit("/", 1)[-1])
                with market.lock:
                    market.webhooks_received += 1
                if event["type"] == "routing.created":
                    market.submit(market.decide, institution_id, event["data"])

            def log_message(self, *args):
                pass

        self.webhook_server = ThreadingHTTPServer(("127.0.0.1", self.webhook_port), Receiver)
        self.webhook_server.daemon_threads = True
        threading.Thread(target=self.webhook_server.serve_forever, daemon=True).start()

    def stop_webhooks(self) -> None:
        self.webhook_server.shutdown()
        self.webhook_server.server_close()

    # borrowers ---------------------------------------------------------------------
    def borrower_looks(self, application_id: str, looked: int) -> None:
        response = self.client.call(
            "GET /v1/applications/{id}/offers", "GET",
            f"/v1/applications/{application_id}/offers", self.app_key)
        offers = response.json() if response is not None and response.status_code == 200 \
            else []
        if not offers:
            if looked < 4 and not self.stopping.is_set():
                self.after(10 * (looked + 1), lambda: self.borrower_looks(application_id,
                                                                          looked + 1))
            return
        if not self.chance(0.7):
            return
        offer = min(offers, key=lambda o: o["apr"])
        accepted = self.client.call(
            "POST /v1/applications/{id}/offers/{id}/accept", "POST",
            f"/v1/applications/{application_id}/offers/{offer['id']}/accept", self.app_key)
        if accepted is None or accepted.status_code != 200:
            return
        with self.lock:
            self.counts["accepted"] += 1
        institution_id = offer["institution"]["id"]
        funded = self.client.call(
            "POST /v1/institution/loans", "POST", "/v1/institution/loans",
            self.institution_keys[institution_id],
            {"offer_id": offer["id"], "amount": offer["amount"],
             "funded_at": datetime.now(UTC).isoformat()})
        if funded is not None and funded.status_code in (200, 201):
            with self.lock:
                self.counts["funded"] += 1

    # the clock ---------------------------------------------------------------------
    def after(self, seconds: float, fn) -> None:
        self.later.put((time.time() + seconds, next(self.counter), fn))

    def run_later(self) -> None:
        # Follow-ups still due when the arrivals stop are dropped.
        while not self.stopping.is_set():
            try:
                due, n, fn = self.later.get(timeout=0.2)
            except queue.Empty:
                continue
            if due > time.time():
                self.later.put((due, n, fn))
                time.sleep(max(0.0, min(0.05, due - time.time())))
                continue
            self.submit(fn)

    def submit(self, fn, *args) -> None:
        with contextlib.suppress(RuntimeError):     # shut down: the run is over
            self.pool.submit(fn, *args)

    def run(self, seconds: float, during=None) -> float:
        """Apply at ``rate`` for ``seconds``; ``during(elapsed)`` is called every second."""
        self.serve_webhooks()
        helpers = [threading.Thread(target=self.pull, daemon=True),
                   threading.Thread(target=self.run_later, daemon=True)]
        for thread in helpers:
            thread.start()
        started = time.time()
        next_report = started + 10
        next_tick = started + 1
        for n in itertools.count():
            due = started + n / self.rate
            if due - started >= seconds:
                break
            while time.time() < due:
                time.sleep(min(0.01, max(0.0, due - time.time())))
            self.submit(self.apply, n)
            now = time.time()
            if during is not None and now >= next_tick:
                next_tick = now + 1
                during(now - started)
            if now >= next_report:
                next_report = now + 10
                with self.lock:
                    log(f"{now - started:5.0f} s: {self.counts['applications']} applications, "
                        f"{self.counts['decisions_approve']} approvals, "
                        f"{self.counts['decisions_decline']} declines, "
                        f"{self.counts['funded']} loans funded")
        elapsed = time.time() - started
        self.stopping.set()
        log("arrivals stopped; letting in-flight work finish")
        for thread in helpers:
            thread.join()
        self.pool.shutdown(wait=True)
        return elapsed


# --------------------------------------------------------------------------- set-up

def setup(service: Service) -> dict:
    log("migrating and seeding the demo catalogue")
    service.flask("db", "upgrade")
    seeded = service.flask("seed-demo")
    keys = {}
    for line in seeded.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("ops", "borrower_app"):
            keys[parts[0]] = parts[1]
    return keys


def prepare_institutions(service: Service, client: Client, keys: dict,
                         webhook_port: int) -> dict:
    """A key per institution, webhooks for every other one; every product's terms."""
    ops = keys["ops"]
    institutions, products = [], {}
    for path, into in (("/v1/institutions", institutions), ("/v1/products", None)):
        for page in itertools.count(1):
            response = client.call(f"GET {path}", "GET", path, ops,
                                   query={"page": page, "page_size": 100})
            rows = response.json()
            if into is not None:
                into.extend(rows)
            else:
                products.update({p["id"]: p for p in rows})
            if len(rows) < 100:
                break
    keys["institutions"], keys["webhook_institutions"] = {}, set()
    for n, institution in enumerate(institutions):
        created = client.call("POST /v1/keys", "POST", "/v1/keys", ops,
                              {"role": "institution", "institution_id": institution["id"],
                               "label": "load test"})
        keys["institutions"][institution["id"]] = created.json()["key"]
        if n % 2 == 0:
            patched = client.call(
                "PATCH /v1/institutions/{id}", "PATCH", f"/v1/institutions/{institution['id']}",
                ops, {"webhook_url": f"http://127.0.0.1:{webhook_port}/hooks/{institution['id']}",
                      "webhook_secret": WEBHOOK_SECRET, "reason": "load test"})
            assert patched.status_code == 200, patched.text
            keys["webhook_institutions"].add(institution["id"])
    log(f"{len(institutions)} institutions ({len(keys['webhook_institutions'])} by webhook), "
        f"{len(products)} products")
    return products


# --------------------------------------------------------------------------- checks

def lost_applications(database_url: str, market: Market) -> dict:
    """Every application a client was told about exists, once; nothing exists that no
    client sent."""
    import psycopg

    with psycopg.connect(database_url) as connection:
        stored = dict(connection.execute(
            "SELECT idempotency_key, id FROM applications").fetchall())
        deliveries = dict(connection.execute(
            "SELECT status, count(*) FROM webhook_deliveries GROUP BY status").fetchall())
    told = {k: v for k, v in market.sent_keys.items() if v is not None}
    missing = [k for k, v in told.items() if stored.get(k) != v]
    unknown = [k for k in stored if k not in market.sent_keys]
    never_answered = [k for k, v in market.sent_keys.items() if v is None]
    return {"sent": len(market.sent_keys), "created": len(told), "stored": len(stored),
            "missing": missing[:20], "unknown": unknown[:20],
            "never_answered": len(never_answered),
            "never_answered_but_stored": sum(k in stored for k in never_answered),
            "webhook_deliveries": deliveries}


def invariants(service: Service) -> dict:
    output = service.flask("check-invariants")
    failed = [line for line in output.splitlines() if line.startswith("FAIL")]
    return {"ok": not failed and "[exit" not in output, "failed": failed,
            "checked": sum(line.startswith(("ok", "FAIL")) for line in output.splitlines())}


def summarise(recorder: Recorder, elapsed: float) -> dict:
    endpoints = {}
    for endpoint, seconds in sorted(recorder.latency.items()):
        values = np.array(seconds) * 1000
        endpoints[endpoint] = {"n": len(values),
                               "p50_ms": round(float(np.percentile(values, 50)), 1),
                               "p99_ms": round(float(np.percentile(values, 99)), 1)}
    statuses = collections.Counter()
    for (_, status), count in recorder.statuses.items():
        statuses[str(status)] += count
    total = sum(statuses.values())
    errors_5xx = sum(c for s, c in statuses.items() if s.startswith("5") and s != "503")
    by_endpoint = collections.defaultdict(dict)
    for (endpoint, status), count in sorted(recorder.statuses.items()):
        by_endpoint[endpoint][str(status)] = count
    for endpoint, row in endpoints.items():
        row["statuses"] = by_endpoint[endpoint]
    return {"seconds": round(elapsed, 1), "requests": total,
            "requests_per_second": round(total / elapsed, 1), "statuses": dict(statuses),
            "errors_5xx_not_503": errors_5xx, "connection_errors": recorder.connection_errors,
            "unanswered": dict(recorder.unanswered),
            "retry_after_missing": recorder.retry_after_missing,
            "bad_bodies": recorder.bad_bodies[:5], "endpoints": endpoints}


def conflicts_logged(logs: Path) -> dict:
    """Deadlocks PostgreSQL broke, and the requests the service ran again for them."""
    def count(name: str, needle: str) -> int:
        with contextlib.suppress(OSError), (logs / name).open(errors="replace") as lines:
            return sum(needle in line for line in lines)
        return 0

    return {"deadlocks": count("postgres.log", "ERROR:  deadlock detected"),
            "requests_run_again": count("web.log", "running the request again")}


def print_report(summary: dict, counts: dict, lost: dict, checked: dict,
                 conflicts: dict) -> None:
    print()
    print(f"{summary['requests']} requests in {summary['seconds']} s: "
          f"{summary['requests_per_second']} requests/s")
    print(f"answers by status: {summary['statuses']}")
    print(f"errors: {summary['errors_5xx_not_503']} 5xx other than 503, "
          f"{summary['connection_errors']} dropped connections (retried), "
          f"unanswered after retries: {summary['unanswered'] or 'none'}, "
          f"429/503 without Retry-After: {summary['retry_after_missing']}")
    print(f"{'endpoint':50} {'n':>7} {'p50 ms':>8} {'p99 ms':>8}  answers")
    for endpoint, row in summary["endpoints"].items():
        print(f"{endpoint:50} {row['n']:7} {row['p50_ms']:8} {row['p99_ms']:8}  "
              f"{row['statuses']}")
    print(f"market: {dict(counts)}")
    print(f"applications: {lost['sent']} sent, {lost['created']} confirmed, "
          f"{lost['stored']} stored, missing {len(lost['missing'])}, unknown "
          f"{len(lost['unknown'])}; webhook deliveries {lost['webhook_deliveries']}")
    print(f"database conflicts: {conflicts['deadlocks']} deadlocks broken by PostgreSQL, "
          f"{conflicts['requests_run_again']} requests run again by the service")
    print(f"invariants: {'all hold' if checked['ok'] else checked['failed']} "
          f"({checked['checked']} checks)")


def run_load(args, fault=None) -> dict:
    """Start everything, run the market (calling ``fault`` once a second with the elapsed
    time and the running pieces), check, and return the figures."""
    with throwaway_cluster() as cluster:
        if cluster is None:
            raise SystemExit("no PostgreSQL server on this machine (initdb not found)")
        database_url = create_database(cluster.admin_url, "lendmatch_load")
        service = Service(database_url, args.workers)
        recorder = Recorder()
        client = Client(service.url, recorder)
        try:
            keys = setup(service)
            service.start_web()
            webhook_port = free_port()
            products = prepare_institutions(service, client, keys, webhook_port)
            market = Market(client, keys, products, args.rate, webhook_port)
            service.start_scheduler()
            recorder.__init__()                 # count the load, not the set-up
            log(f"load: {args.rate} applications/s for {args.seconds} s on "
                f"{args.workers} gunicorn workers")
            context = {"service": service, "cluster": cluster, "market": market,
                       "recorder": recorder}
            elapsed = market.run(args.seconds,
                                 during=(lambda t: fault(t, context)) if fault else None)
            if fault is not None and hasattr(fault, "settle"):
                fault.settle(context)
            summary = summarise(recorder, elapsed)
            service.stop()
            lost = lost_applications(database_url, market)
            checked = invariants(service)
            market.stop_webhooks()
        finally:
            service.stop()
            cluster.keep_log(service.logs / "postgres.log")
        log(f"server logs (web, scheduler, postgres) are in {service.logs}")
        conflicts = conflicts_logged(service.logs)
        print_report(summary, market.counts, lost, checked, conflicts)
        return {"summary": summary, "counts": dict(market.counts), "lost": lost,
                "invariants": checked, "conflicts": conflicts}


def passed(result: dict) -> bool:
    s, lost = result["summary"], result["lost"]
    return (result["invariants"]["ok"] and s["errors_5xx_not_503"] == 0
            and not lost["missing"] and not lost["unknown"] and not s["unanswered"]
            and s["retry_after_missing"] == 0)


def arguments(default_seconds: float = 300):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=default_seconds)
    parser.add_argument("--rate", type=float, default=10.0, help="applications per second")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    return parser


def main() -> None:
    args = arguments().parse_args()
    result = run_load(args)
    s = result["summary"]
    figures = {
        "seconds": s["seconds"], "rate": args.rate, "workers": args.workers,
        "requests": s["requests"], "requests_per_second": s["requests_per_second"],
        "applications": result["lost"]["created"],
        "p50_ms": {k: v["p50_ms"] for k, v in s["endpoints"].items()},
        "p99_ms": {k: v["p99_ms"] for k, v in s["endpoints"].items()},
        "statuses": s["statuses"], "errors_5xx_not_503": s["errors_5xx_not_503"],
        "connection_errors": s["connection_errors"], "unanswered": s["unanswered"],
        "lost_applications": len(result["lost"]["missing"]),
        "deadlocks": result["conflicts"]["deadlocks"],
        "requests_run_again": result["conflicts"]["requests_run_again"],
        "invariants_ok": result["invariants"]["ok"], "passed": passed(result),
    }
    print(json.dumps(figures))
    sys.exit(0 if figures["passed"] else 1)


if __name__ == "__main__":
    main()
