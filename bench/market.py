"""The outcome benchmark: lendmatch's routing against baseline policies and the hindsight
optimum, on one simulated market with the same arrivals for every policy.

    python bench/market.py [--applicants 50000] [--quick] [--seed 0] [--png market.png]
                           [--service 1000]

1. Generates the default scenario (``simulation/world.py``): ~100 institutions with
   hidden policies, SLA behaviour and drift, mostly thin-file borrowers arriving over
   ``--days`` days. ``--lendingclub`` fits the institutions' policies and default rates on
   the LendingClub data in ``../shared/data`` instead (``simulation/lendingclub.py``).
2. Installs the catalogue in a fresh SQLite database through lendmatch's services, and
   caps the most demanded 40% of institutions at half of what a pilot day sent them.
3. Runs each policy over the same arrivals (``simulation/arena.py``): random K,
   rules-only by ops weight, broadcast, the engine without learning, the full engine,
   two at a time on the machine's two cores; and solves the hindsight optimum per day
   (``simulation/hindsight.py``).
4. With ``--service N``, also runs the full engine on the first N arrivals through the
   service layer and the database (``simulation/service_run.py``): institutions deciding
   through the decision service, borrowers accepting, loans funded and repaid through the
   loan services, the scheduler's jobs on simulated time; and prints it beside the
   in-memory run of the same N arrivals.

Prints a table and per-day learning curves, writes a PNG (learning curves and funnel),
and ends with one JSON line.
"""

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from app import create_app  # noqa: E402
from matching.scoring import ScoringSettings  # noqa: E402
from simulation import hindsight, metrics, policies, scenario, world  # noqa: E402
from simulation.arena import Market, Settings  # noqa: E402

POLICY_NAMES = ("random K", "rules-only by weight", "broadcast", "engine without learning",
                "full engine")

_shared: dict = {}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _job(name: str):
    truth, settings, seed = _shared["truth"], _shared["settings"], _shared["seed"]
    if name == "hindsight":
        return name, hindsight.solve(truth, settings, progress=log)
    policy = next(p for p in policies.standard(seed) if p.name == name)
    return name, Market(truth, settings, policy, progress=log).run()


def run_all(truth, settings, seed: int, workers: int) -> dict:
    _shared.update(truth=truth, settings=settings, seed=seed)
    jobs = ["full engine", "engine without learning", "hindsight", "random K",
            "rules-only by weight", "broadcast"]
    if workers <= 1:
        return dict(_job(name) for name in jobs)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return dict(pool.imap_unordered(_job, jobs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--applicants", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="5,000 applicants over 2 days")
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--institutions", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=3, help="products per wave")
    parser.add_argument("--inquiry-cost", type=float, default=0.1)
    parser.add_argument("--exploration", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--service", type=int, default=0, metavar="N",
                        help="also run the full engine through the service layer on the "
                             "first N arrivals")
    parser.add_argument("--png", default="market.png")
    args = parser.parse_args()
    if args.quick:
        args.applicants, args.days = 5000, 2
    started = time.time()
    settings = Settings(k=args.k, exploration_rate=args.exploration,
                        scoring=ScoringSettings(inquiry_cost=args.inquiry_cost))
    workdir = tempfile.mkdtemp(prefix="lendmatch-market-")
    app = create_app({"DATABASE_URL": f"sqlite:///{workdir}/market.sqlite"})
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
    market_world = world.generate(args.seed, institutions=args.institutions,
                                  applicants=args.applicants, days=args.days)
    market_world, truth, _ = scenario.prepare(app, market_world, settings)
    capped = sum(1 for spec in market_world.institutions if spec.cap)
    log(f"scenario {market_world.name}: {len(market_world.institutions)} institutions "
        f"({capped} capped), {truth.catalogue.size} products, {args.applicants:,} applicants "
        f"over {args.days} days, {np.isnan(market_world.borrowers.score).mean():.0%} "
        f"thin-file; K={settings.k}, waves={settings.max_waves}, inquiry cost "
        f"{settings.scoring.inquiry_cost}")

    outcomes = run_all(truth, settings, args.seed, args.workers)
    optimum = outcomes.pop("hindsight")
    results = [outcomes[name] for name in POLICY_NAMES]
    cost = settings.scoring.inquiry_cost
    summaries = [metrics.summarise(r, cost) for r in results]
    by_name = {s.policy: s for s in summaries}
    print_table(summaries, optimum)
    curves = {r.policy: metrics.curve(r, market_world.borrowers.arrival) for r in results}
    print_curves(curves)

    full, broadcast, random_k = (by_name["full engine"], by_name["broadcast"],
                                 by_name["random K"])
    figures = {
        "scenario": market_world.name, "applicants": args.applicants,
        "match_success_vs_broadcast": round(full.match_success / broadcast.match_success, 4),
        "inquiries_per_applicant": round(full.inquiries_per_applicant, 3),
        "value_vs_hindsight": round(full.value / optimum.value, 4),
        "approval_rate_vs_random": round(full.approval_rate / random_k.approval_rate, 3),
        "bad_rate": round(full.bad_rate, 4),
        "ece": round(full.ece, 4) if full.ece is not None else None,
        "match_success": round(full.match_success, 4),
        "value_vs_hindsight_by_policy": {s.policy: round(s.value / optimum.value, 4)
                                         for s in summaries},
        "hindsight_integrality_gap": round(optimum.fractional, 6),
    }
    if args.service:
        from simulation import service_run

        log(f"service layer: full engine on the first {args.service:,} arrivals")
        served = metrics.summarise(service_run.run(
            market_world, settings, args.service,
            database_url=f"sqlite:///{workdir}/service.sqlite",
            seed=args.seed, progress=log), cost)
        memory = Market(truth, settings, policies.Engine(learning=True, seed=args.seed),
                        limit=args.service).run()
        same = metrics.summarise(memory, cost)
        print_table([replace(same, policy="full engine, in memory"),
                     replace(served, policy="full engine, service layer")], None)
        figures["service_layer"] = {k: v for k, v in asdict(served).items()
                                    if k not in ("policy",)}
    metrics.plot(curves, summaries, int(optimum.funded.sum()), args.png)
    log(f"plot: {args.png}")
    figures["seconds"] = round(time.time() - started, 1)
    app.extensions["lendmatch.engine"].dispose()
    print(json.dumps(figures))


def print_table(summaries, optimum) -> None:
    print(f"\n{'policy':<28} {'match':>6} {'inq/app':>7} {'appr/rt':>7} {'take-up':>7} "
          f"{'funded':>7} {'volume M':>8} {'bad':>6} {'value':>9} {'vs hind':>7} "
          f"{'ECE':>6} {'secs':>5}")
    for s in summaries:
        share = f"{s.value / optimum.value:>7.3f}" if optimum else f"{'':>7}"
        ece = f"{s.ece:>6.3f}" if s.ece is not None else f"{'-':>6}"
        print(f"{s.policy:<28} {s.match_success:>6.3f} {s.inquiries_per_applicant:>7.2f} "
              f"{s.approval_rate:>7.3f} {s.takeup:>7.3f} {s.funded:>7,} "
              f"{s.funded_volume / 1e6:>8.2f} {s.bad_rate:>6.3f} {s.value:>9.0f} {share} "
              f"{ece} {s.seconds:>5.0f}")
    if optimum:
        funded = optimum.funded
        print(f"{'hindsight optimum':<28} {'':>6} {1.0 * funded.mean():>7.2f} {1.0:>7.3f} "
              f"{1.0:>7.3f} {int(funded.sum()):>7,} {optimum.amount.sum() / 1e6:>8.2f} "
              f"{optimum.bad[funded].mean():>6.3f} {optimum.value:>9.0f} {1.0:>7.3f} "
              f"{'-':>6} {optimum.seconds:>5.0f}")
        print(f"(matchable applicants: {summaries[0].matchable:.1%}; hindsight LP largest "
              f"distance from an integer solution: {optimum.fractional:.1e})")


def print_curves(curves) -> None:
    names = list(curves)
    print("\nper day: approval rate per routing / match success"
          + " / ECE (full engine)")
    print(f"{'day':>4} " + " ".join(f"{n[:18]:>18}" for n in names) + f" {'ECE':>6}")
    for k, point in enumerate(curves[names[0]]):
        cells = [f"{curves[n][k]['approval_rate']:.3f} / {curves[n][k]['match_success']:.3f}"
                 for n in names]
        ece = curves["full engine"][k]["ece"]
        print(f"{point['day']:>4} " + " ".join(f"{c:>18}" for c in cells)
              + f" {ece if ece is None else round(ece, 3):>6}")


if __name__ == "__main__":
    main()
