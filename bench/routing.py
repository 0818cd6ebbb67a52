"""Routing latency and throughput, against a bare endpoint of the same app.

    python bench/routing.py [--quick] [--applications 10000] [--seconds 20]
                            [--concurrency 16] [--workers 2] [--no-postgres]

Builds a catalogue of 1,000 products from 150 institutions (the demo generator), then:

(a) in-process: routes ``--applications`` generated applicants through the routing service
    (eligibility, scoring, selection, capacity reservation, storing the application, its
    routings and trace) on SQLite, and reports p50/p99; also the decision alone (no
    database), and the selection step by the exact method against a CP-SAT solve;
(b) over HTTP: gunicorn with ``--workers`` sync workers, on SQLite and on a throwaway
    PostgreSQL (``LENDMATCH_BENCH_POSTGRES_URL`` to use your own), ``--concurrency``
    client threads for ``--seconds`` against ``POST /v1/applications`` and, alternating in
    the same run, against ``POST /bench/bare`` which authenticates the same key,
    validates the same body and inserts one row (no routing).

Prints tables and ends with one JSON line of the figures. ``--quick`` runs a small version
in under a minute.
"""

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from postgres_server import create_database, free_port, throwaway_postgres  # noqa: E402

from app import create_app  # noqa: E402
from core import keys  # noqa: E402
from core.db import get_session, new_session  # noqa: E402
from core.principal import Principal, Role, command_line  # noqa: E402
from core.regions import MAINLAND  # noqa: E402
from matching import engine, service  # noqa: E402
from matching.applicant import from_body  # noqa: E402
from matching.schemas import ApplicationIn  # noqa: E402
from matching.selection import select, solve_with_cp_sat  # noqa: E402
from products.demo import seed  # noqa: E402

INSTITUTIONS, PRODUCTS = 150, 1000
REGIONS = sorted(MAINLAND)
EMPLOYMENT = (["salaried", "self_employed", "gig", "student", "retired", "unemployed"],
              [0.55, 0.15, 0.15, 0.05, 0.03, 0.07])
CHANNELS = (["app", "ecommerce", "travel", "education", "retail", "social", "partner"],
            [0.35, 0.25, 0.05, 0.05, 0.1, 0.1, 0.1])
PURPOSES = ["consumption", "education", "medical", "travel", "home", "business", "other"]


def applicant_bodies(count: int, seed_value: int, tag: str) -> list[dict]:
    """Mostly thin-file applicants asking for a few thousand CNY, as in the brief."""
    rng = random.Random(seed_value)
    bodies = []
    for n in range(count):
        income = int(min(max(rng.lognormvariate(8.7, 0.5), 0), 10**6))
        months = rng.random() < 0.75
        bodies.append({
            "applicant": {
                "external_id": f"{tag}-{n}", "age": int(min(max(rng.gauss(32, 9), 18), 70)),
                "region": rng.choice(REGIONS), "monthly_income": income,
                "employment": rng.choices(*EMPLOYMENT)[0],
                "credit_score": None if rng.random() < 0.85 else rng.randint(520, 820),
                "monthly_debt": 0 if rng.random() < 0.5 else int(income * rng.random() * 0.5),
                "first_loan": rng.random() < 0.4,
                "signals": {"device_age_days": rng.randint(0, 2000)},
            },
            "request": {
                "amount": int(min(max(rng.lognormvariate(8.0, 0.8), 500), 200000)) // 100
                * 100,
                "term": rng.choice([3, 6, 12, 12, 24]) if months else rng.choice([7, 14, 30]),
                "term_unit": "month" if months else "day",
                "purpose": rng.choice(PURPOSES),
            },
            "channel": rng.choices(*CHANNELS)[0],
            "consent": {"version": "2026-01", "given_at": "2026-11-21T10:00:00Z"},
        })
    return bodies


def percentiles(samples: list[float]) -> dict:
    ordered = np.sort(np.asarray(samples)) * 1000
    return {"p50_ms": float(np.percentile(ordered, 50)),
            "p99_ms": float(np.percentile(ordered, 99)), "count": len(ordered)}


def prepare(url: str) -> str:
    """Migrate, seed the 1,000-product catalogue, create the bare table; return an API key."""
    from bench_app import BARE_ROWS

    app = create_app({"DATABASE_URL": url})
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    if result.exit_code:
        sys.exit(result.output)
    with app.app_context():
        session = get_session()
        seed(session, 7, app.config["APR_CAP"], institutions=INSTITUTIONS, products=PRODUCTS)
        BARE_ROWS.create(session.get_bind(), checkfirst=True)
        _, key = keys.create(session, command_line("bench"), Role.BORROWER_APP)
    app.extensions["lendmatch.engine"].dispose()
    return key


# --- (a) in-process -----------------------------------------------------------------------

def in_process(url: str, count: int) -> dict:
    app = create_app({"DATABASE_URL": url})
    context = app.extensions["lendmatch.routing"]
    schema = ApplicationIn()
    bodies = [schema.load(b) for b in applicant_bodies(count + 200, 11, "inproc")]
    who = Principal(key_id=1, role=Role.BORROWER_APP)
    service_times, routed, statuses = [], [], {}
    with app.app_context():
        for n, body in enumerate(bodies):
            session = new_session()
            start = time.perf_counter()
            response, _ = service.apply(session, who, body, request_hash=str(n),
                                        idempotency_key=f"inproc-{n}", context=context)
            elapsed = time.perf_counter() - start
            session.close()
            if n >= 200:  # the first ones compile the catalogue and warm caches
                service_times.append(elapsed)
                routed.append(len(response["routed"]))
                statuses[response["status"]] = statuses.get(response["status"], 0) + 1
            if n and n % 2000 == 0:
                print(f"  in-process: {n}/{len(bodies)} routed", file=sys.stderr)

        # The decision alone (eligibility, predictions with exploration's propensity
        # draws, scores, selection, trace), no database.
        session = new_session()
        catalogue = context.cache.get(session)
        session.close()
        applicants = [from_body(b) for b in bodies[200:]]
        no_usage = lambda p, i: (np.zeros(len(p)), np.zeros(len(i)))  # noqa: E731
        decision_times, instances = [], []
        for applicant in applicants:
            start = time.perf_counter()
            decision = engine.route(catalogue, applicant, k=context.k, usage_of=no_usage,
                                    model=context.learned.predictor, rng=context.rng,
                                    exploration_rate=context.exploration_rate,
                                    settings=context.settings)
            decision.trace(model_name="bench", settings=context.settings,
                           applicant=applicant, attempts=1)
            decision_times.append(time.perf_counter() - start)
            if len(instances) < 200 and len(decision.scores.index):
                instances.append((decision.scores.score,
                                  catalogue.institution_index[decision.scores.index]))
    app.extensions["lendmatch.engine"].dispose()

    greedy_times, solver_times = [], []
    for scores, group in instances:
        start = time.perf_counter()
        select(scores, group, 5)
        greedy_times.append(time.perf_counter() - start)
        groups, dense = np.unique(group, return_inverse=True)
        start = time.perf_counter()
        solve_with_cp_sat(scores, dense, 5, np.ones(len(scores), bool),
                          np.ones(len(groups), bool), time_limit_seconds=5, workers=1)
        solver_times.append(time.perf_counter() - start)
    return {"service": percentiles(service_times), "decision": percentiles(decision_times),
            "greedy": percentiles(greedy_times), "cp_sat": percentiles(solver_times),
            "routed_mean": float(np.mean(routed)), "statuses": statuses}


# --- (b) over HTTP --------------------------------------------------------------------------

class Gunicorn:
    def __init__(self, url: str, workers: int):
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": url}
        handle, self.log_path = tempfile.mkstemp(prefix="lendmatch-gunicorn-", suffix=".log")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
             f"127.0.0.1:{self.port}", "--chdir", str(HERE), "--log-level", "warning",
             "--timeout", "60", "bench_app:create()"],
            env=env, stdout=handle, stderr=subprocess.STDOUT)
        os.close(handle)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/openapi.json")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        sys.exit(f"gunicorn did not start; see {self.log_path}")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def load(port: int, path: str, bodies: list[tuple[str, bytes]], headers: dict,
         seconds: float, concurrency: int, idempotency: bool) -> dict:
    """``concurrency`` threads posting back to back for ``seconds``."""
    latencies, errors, lock = [], {}, threading.Lock()
    cursor = iter(range(len(bodies)))
    stop_at = time.perf_counter() + seconds

    def client():
        mine = []
        while time.perf_counter() < stop_at:
            with lock:
                n = next(cursor, None)
            if n is None:
                break
            key, body = bodies[n]
            request_headers = dict(headers)
            if idempotency:
                request_headers["Idempotency-Key"] = key
            start = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("POST", path, body=body, headers=request_headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError as error:
                status = type(error).__name__
            finally:
                connection.close()
            mine.append(time.perf_counter() - start)
            if status != 201:
                with lock:
                    errors[str(status)] = errors.get(str(status), 0) + 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {**percentiles(latencies), "per_second": len(latencies) / elapsed,
            "errors": errors}


def over_http(url: str, key: str, args, tag: str) -> dict:
    server = Gunicorn(url, args.workers)
    try:
        raw = applicant_bodies(int(args.seconds * 1500) + 2000, 23, f"http-{tag}")
        bodies = [(b["applicant"]["external_id"], json.dumps(b).encode()) for b in raw]
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        half = len(bodies) // 2
        cases = {"bare": ("/bench/bare", bodies[:half], False),
                 "routing": ("/v1/applications", bodies[half:], True)}
        results = {name: [] for name in cases}
        # Warm both up, then alternate in two rounds so that drift hits both alike.
        for path, pool, idempotent in cases.values():
            load(server.port, path, pool[-200:], headers, 2, args.concurrency, idempotent)
        offsets = {name: 0 for name in cases}
        for _ in range(2):
            for name, (path, pool, idempotent) in cases.items():
                chunk = pool[offsets[name]:len(pool) - 200]
                result = load(server.port, path, chunk, headers, args.seconds / 2,
                              args.concurrency, idempotent)
                offsets[name] += result["count"]
                results[name].append(result)
        merged = {}
        for name, rounds in results.items():
            total = sum(r["count"] for r in rounds)
            merged[name] = {
                "p50_ms": float(np.average([r["p50_ms"] for r in rounds],
                                           weights=[r["count"] for r in rounds])),
                "p99_ms": max(r["p99_ms"] for r in rounds),
                "per_second": float(np.mean([r["per_second"] for r in rounds])),
                "count": total,
                "errors": {k: sum(r["errors"].get(k, 0) for r in rounds)
                           for k in {k for r in rounds for k in r["errors"]}},
            }
        return merged
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--applications", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="HTTP load per endpoint per database")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.applications, args.seconds = 1000, 4.0

    scratch = tempfile.mkdtemp(prefix="lendmatch-bench-")
    figures: dict = {"products": PRODUCTS, "institutions": INSTITUTIONS,
                     "applications": args.applications, "concurrency": args.concurrency,
                     "workers": args.workers}

    print(f"(a) in-process, SQLite, {args.applications} applications, "
          f"{PRODUCTS} products from {INSTITUTIONS} institutions")
    url = f"sqlite:///{scratch}/inprocess.sqlite"
    prepare(url)
    inproc = in_process(url, args.applications)
    print(f"{'step':<44}{'p50 ms':>9}{'p99 ms':>9}")
    for label, name in [("routing service (with database writes)", "service"),
                        ("decision only (eligibility→trace)", "decision"),
                        ("selection, exact method", "greedy"),
                        ("selection, CP-SAT on the same instance", "cp_sat")]:
        print(f"{label:<44}{inproc[name]['p50_ms']:>9.3f}{inproc[name]['p99_ms']:>9.3f}")
    print(f"products routed per application: {inproc['routed_mean']:.2f}; "
          f"statuses {inproc['statuses']}")
    figures.update({
        "inprocess_p50_ms": round(inproc["service"]["p50_ms"], 3),
        "inprocess_p99_ms": round(inproc["service"]["p99_ms"], 3),
        "decision_p50_ms": round(inproc["decision"]["p50_ms"], 3),
        "decision_p99_ms": round(inproc["decision"]["p99_ms"], 3),
        "selection_exact_p50_ms": round(inproc["greedy"]["p50_ms"], 4),
        "selection_cp_sat_p50_ms": round(inproc["cp_sat"]["p50_ms"], 3),
        "routed_per_application": round(inproc["routed_mean"], 2),
    })

    print(f"\n(b) over HTTP: gunicorn, {args.workers} workers, concurrency "
          f"{args.concurrency}, {args.seconds:g} s per endpoint per database")
    with throwaway_postgres() as admin_url:
        databases = {"sqlite": f"sqlite:///{scratch}/http.sqlite"}
        if admin_url and not args.no_postgres:
            databases["postgresql"] = create_database(admin_url, "lendmatch_bench")
        elif not args.no_postgres:
            print("  no PostgreSQL server available: skipping it")
        print(f"{'database':<12}{'endpoint':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'errors':>8}")
        for name, url in databases.items():
            key = prepare(url)
            result = over_http(url, key, args, name)
            for endpoint in ("bare", "routing"):
                r = result[endpoint]
                print(f"{name:<12}{endpoint:<10}{r['per_second']:>9.0f}{r['p50_ms']:>9.2f}"
                      f"{r['p99_ms']:>9.2f}{sum(r['errors'].values()):>8}")
            bare, routing = result["bare"], result["routing"]
            figures[name] = {
                "http_p50_ratio_vs_bare": round(routing["p50_ms"] / bare["p50_ms"], 3),
                "http_throughput_ratio_vs_bare": round(
                    routing["per_second"] / bare["per_second"], 3),
                "routing_per_second": round(routing["per_second"], 1),
                "routing_p50_ms": round(routing["p50_ms"], 2),
                "routing_p99_ms": round(routing["p99_ms"], 2),
                "bare_per_second": round(bare["per_second"], 1),
                "bare_p50_ms": round(bare["p50_ms"], 2),
                "bare_p99_ms": round(bare["p99_ms"], 2),
                "errors": {"routing": routing["errors"], "bare": bare["errors"]},
            }
            print(f"{'':<12}routing vs bare: p50 ×{figures[name]['http_p50_ratio_vs_bare']}, "
                  f"throughput ×{figures[name]['http_throughput_ratio_vs_bare']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
