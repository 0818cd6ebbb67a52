"""Faults under load: each scenario runs bench/load.py's market on gunicorn + PostgreSQL +
the scheduler, breaks one thing partway through, and then checks what clients saw and
that the invariants hold.

    python bench/faults.py                         # all four, 120 s each
    python bench/faults.py kill-worker --seconds 60

* ``kill-worker``: SIGKILL one gunicorn worker. gunicorn starts another; requests in
  flight on the dead one lose their connection and are retried.
* ``restart-postgres``: stop PostgreSQL (fast: it drops every connection) and start it
  again 5 s later. Meanwhile clients get 503 with ``Retry-After`` and ``/readyz`` says
  not ready; afterwards the pools reconnect (``pool_pre_ping``).
* ``kill-scheduler``: SIGKILL the scheduler while a job is running, start it again. The
  dead run is marked failed (``abandoned``) when the job next runs, and jobs go on.
* ``webhook-down``: the institutions' webhook endpoint refuses connections for 60 s.
  Deliveries are retried with backoff and all arrive after it returns.

A scenario passes when no client saw a 5xx other than 503, every 503/429 carried
``Retry-After``, no application was lost, every request got an answer, the invariants
hold, and the scenario's own check holds. The last line is JSON.
"""

import json
import os
import signal
import sys
import time

import psycopg
import requests

sys.path.insert(0, os.path.dirname(__file__))
from load import arguments, log, passed, run_load  # noqa: E402


class Fault:
    name = ""
    at = 30.0

    def __init__(self):
        self.fired = False
        self.facts = {}

    def __call__(self, elapsed: float, context: dict) -> None:
        if not self.fired and elapsed >= self.at:
            self.fired = True
            log(f"FAULT: {self.name}")
            self.fire(context)
        elif self.fired:
            self.tick(elapsed, context)

    def fire(self, context: dict) -> None:
        raise NotImplementedError

    def tick(self, elapsed: float, context: dict) -> None:
        pass

    def settle(self, context: dict) -> None:
        """After the load, before the service stops: wait for recovery, gather facts."""

    def holds(self) -> bool:
        return True


class KillWorker(Fault):
    name = "kill-worker"

    def fire(self, context):
        service = context["service"]
        victim = service.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        self.facts["killed_pid"] = victim

    def settle(self, context):
        service = context["service"]
        pids = service.worker_pids()
        self.facts["workers_after"] = len(pids)
        self.facts["victim_gone"] = self.facts["killed_pid"] not in pids

    def holds(self):
        return self.facts["victim_gone"] and self.facts["workers_after"] >= 1


class RestartPostgres(Fault):
    name = "restart-postgres"
    down_seconds = 5.0

    def fire(self, context):
        cluster, service = context["cluster"], context["service"]
        cluster.stop()
        stopped = time.time()
        readiness = requests.get(service.url + "/readyz", timeout=10)
        self.facts["readyz_while_down"] = readiness.status_code
        self.facts["readyz_retry_after"] = readiness.headers.get("Retry-After")
        time.sleep(max(0.0, self.down_seconds - (time.time() - stopped)))
        cluster.start()
        self.facts["down_seconds"] = round(time.time() - stopped, 1)

    def settle(self, context):
        service = context["service"]
        self.facts["readyz_after"] = requests.get(service.url + "/readyz",
                                                  timeout=10).status_code
        recorder = context["recorder"]
        self.facts["answers_503"] = sum(c for (_, s), c in recorder.statuses.items()
                                        if s == 503)

    def holds(self):
        return (self.facts["readyz_while_down"] == 503
                and self.facts["readyz_retry_after"] == "1" and self.facts["readyz_after"] == 200)


class KillScheduler(Fault):
    name = "kill-scheduler"
    at = 20.0

    def fire(self, context):
        self.hunting_since = time.time()

    def tick(self, elapsed, context):
        if "killed_run" in self.facts or time.time() - self.hunting_since > 90:
            return
        service = context["service"]
        pid = service.scheduler.pid
        with psycopg.connect(service.database_url) as connection:
            deadline = time.time() + 0.9
            while time.time() < deadline:
                row = connection.execute(
                    "SELECT id, job FROM job_runs WHERE status = 'running' AND runner LIKE %s",
                    (f"%:{pid}",)).fetchone()
                if row:
                    os.kill(pid, signal.SIGKILL)
                    service.scheduler.wait()
                    self.facts["killed_run"], self.facts["job"] = row
                    log(f"killed the scheduler in the middle of run {row[0]} ({row[1]})")
                    time.sleep(2)
                    service.start_scheduler()
                    return
                time.sleep(0.005)

    def settle(self, context):
        if "killed_run" not in self.facts:
            return
        service = context["service"]
        deadline = time.time() + 120
        with psycopg.connect(service.database_url, autocommit=True) as connection:
            while time.time() < deadline:
                status, error = connection.execute(
                    "SELECT status, error FROM job_runs WHERE id = %s",
                    (self.facts["killed_run"],)).fetchone()
                later = connection.execute(
                    "SELECT count(*) FROM job_runs WHERE job = %s AND id > %s AND "
                    "status = 'done'", (self.facts["job"], self.facts["killed_run"])).fetchone()[0]
                if status != "running" and later:
                    break
                time.sleep(1)
        self.facts.update(abandoned_run_status=status, abandoned_run_error=error,
                          later_runs_done=later)

    def holds(self):
        return (self.facts.get("abandoned_run_status") == "failed"
                and self.facts.get("later_runs_done", 0) >= 1)


class WebhookDown(Fault):
    name = "webhook-down"
    down_seconds = 60.0

    def fire(self, context):
        context["market"].stop_webhooks()
        self.down_at = time.time()
        self.back = False

    def tick(self, elapsed, context):
        if not self.back and time.time() - self.down_at >= self.down_seconds:
            context["market"].serve_webhooks()
            self.back = True
            self.facts["down_seconds"] = round(time.time() - self.down_at, 1)
            log("webhook endpoint is back")

    def settle(self, context):
        if not self.back:
            time.sleep(max(0.0, self.down_seconds - (time.time() - self.down_at)))
            self.tick(0, context)
        service = context["service"]
        deadline = time.time() + 240
        with psycopg.connect(service.database_url, autocommit=True) as connection:
            while time.time() < deadline:
                counts = dict(connection.execute(
                    "SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
                    .fetchall())
                if not counts.get("pending"):
                    break
                time.sleep(2)
            retried = connection.execute(
                "SELECT count(*), max(attempts) FROM webhook_deliveries "
                "WHERE status = 'delivered' AND attempts > 1").fetchone()
        self.facts.update(deliveries=counts, delivered_after_retries=retried[0],
                          most_attempts=retried[1])
        log(f"deliveries: {counts}")

    def holds(self):
        return (not self.facts["deliveries"].get("pending")
                and not self.facts["deliveries"].get("failed")
                and self.facts["delivered_after_retries"] > 0)


SCENARIOS = {f.name: f for f in (KillWorker, RestartPostgres, KillScheduler, WebhookDown)}


def main() -> None:
    parser = arguments(default_seconds=120)
    parser.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} "
                                                     "(default: all)")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    results = {}
    for name in args.scenarios or list(SCENARIOS):
        print(f"\n==================== {name} ====================", flush=True)
        fault = SCENARIOS[name]()
        result = run_load(args, fault)
        ok = passed(result) and fault.holds()
        s = result["summary"]
        results[name] = {
            "passed": ok, "fault": fault.facts,
            "requests_per_second": s["requests_per_second"],
            "p99_ms": {k: v["p99_ms"] for k, v in s["endpoints"].items()},
            "answers_503": s["statuses"].get("503", 0),
            "errors_5xx_not_503": s["errors_5xx_not_503"],
            "connection_errors": s["connection_errors"], "unanswered": s["unanswered"],
            "applications": result["lost"]["created"],
            "lost_applications": len(result["lost"]["missing"]),
            "invariants_ok": result["invariants"]["ok"], **result["conflicts"],
        }
        print(f"{name}: {'PASSED' if ok else 'FAILED'} {json.dumps(fault.facts)}", flush=True)
    print()
    for name, row in results.items():
        print(f"{name:18} {'passed' if row['passed'] else 'FAILED':7} "
              f"{row['requests_per_second']:7} req/s  503s {row['answers_503']:4}  "
              f"other 5xx {row['errors_5xx_not_503']}  dropped {row['connection_errors']}  "
              f"lost {row['lost_applications']}  invariants "
              f"{'ok' if row['invariants_ok'] else 'BROKEN'}")
    print(json.dumps(results))
    sys.exit(0 if all(r["passed"] for r in results.values()) else 1)


if __name__ == "__main__":
    main()
