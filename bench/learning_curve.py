"""How fast and how well lendmatch learns who approves whom, on a simulated market.

    python bench/learning_curve.py [--decisions 20000] [--quick] [--png-dir .]

Builds a market of ``--institutions`` institutions (two products each) whose hidden
approval policies differ (``simulation/market.py``), then repeats: ``--batch`` borrowers
apply through the routing service, every institution decides every routing through the
decision service, and the ``update-models`` job runs (on simulated time, as the scheduler
would every few minutes). It stops after ``--decisions`` decisions and reports:

* the learning curve, per batch: approval rate per routing, the share of applicants with
  at least one approval in their first wave, and the prequential calibration error (the
  predictions routing stored before the decisions, against the decisions);
* the calibration report of ``flask calibration`` (model retrained on the earlier 80% of
  decisions, scored on the latest 20%): ECE, Brier, AUC and slope, overall and for the
  busiest institutions;
* side by side, on the same arrivals and the same hidden policies: the approval rate per
  routing of the rules-only prior (the engine without learning) over the first batch
  against the learned engine's over the last.

Writes ``learning_curve.png`` and ``calibration.png``. Ends with one JSON line.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from app import create_app  # noqa: E402
from core.db import new_session  # noqa: E402
from jobs import runner  # noqa: E402
from learning import calibration  # noqa: E402
from simulation import setup  # noqa: E402
from simulation.market import Policy  # noqa: E402


class Clock:
    def __init__(self):
        from datetime import UTC, datetime

        self.now = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)

    def __call__(self):
        return self.now

    def advance(self, **delta):
        from datetime import timedelta

        self.now += timedelta(**delta)


def policies(rng, count):
    return [Policy(base=float(rng.normal(0.2, 0.8)), score_weight=float(rng.uniform(0.5, 2)),
                   income_weight=float(rng.uniform(0.3, 1.5)),
                   dti_weight=float(rng.uniform(1, 3)),
                   thin_file_penalty=float(rng.uniform(0, 1.2)),
                   risk_weight=float(rng.uniform(0.3, 1.2)),
                   apr=float(np.round(rng.uniform(0.12, 0.24), 3)))
            for _ in range(count)]


def build(database_url, count, seed, exploration):
    app = create_app({"DATABASE_URL": database_url, "EXPLORATION_RATE": exploration,
                      "PRODUCTS_PER_APPLICATION": 3, "MODEL_REFRESH_SECONDS": 0.0,
                      "ROUTING_SEED": seed, "MAX_WAVES": 1})
    clock = Clock()
    app.extensions["lendmatch.routing"].clock = clock
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
    _, run = setup.market(app, policies(np.random.default_rng(seed), count), seed=seed,
                          name="Institution {:02d}", products_per=2,
                          seconds_between_arrivals=2.0)
    return app, run


def batch(app, run, size, learn=True):
    with app.app_context():
        session = new_session()
        start = len(run.log)
        answers = [run.arrive(session) for _ in range(size)]
        run.decide_pending(session)
        session.close()
        if learn:
            outcome = runner.run(app, "update-models")
            assert outcome.status == "done", outcome.error
    decisions = run.log[start:]
    approved = np.array([d["approved"] for d in decisions], dtype=float)
    predicted = np.array([d["predicted"] for d in decisions])
    by_application = {}
    for answer in answers:
        by_application[answer["id"]] = {r["routing_id"] for r in answer["routed"]}
    return {"applications": size, "decisions": len(decisions),
            "approval_rate": float(approved.mean()) if len(approved) else 0.0,
            "predicted_rate": float(predicted.mean()) if len(predicted) else 0.0,
            "prequential_ece": calibration.ece(predicted, approved),
            "approved": approved, "predicted": predicted}


def match_rate(app, answers_ids):
    from sqlalchemy import func, select

    from matching.models import Routing, RoutingStatus

    with app.app_context():
        session = new_session()
        matched = session.scalar(select(func.count(func.distinct(Routing.application_id)))
                                 .where(Routing.status == RoutingStatus.APPROVED))
        total = session.scalar(select(func.count(func.distinct(Routing.application_id))))
        session.close()
    return matched / total if total else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--institutions", type=int, default=20)
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--exploration", type=float, default=0.1)
    parser.add_argument("--png-dir", default=".")
    parser.add_argument("--quick", action="store_true", help="3,000 decisions")
    args = parser.parse_args()
    if args.quick:
        args.decisions = 3000
    started = time.time()
    workdir = tempfile.mkdtemp(prefix="lendmatch-learning-")

    # The engine without learning, on the same market and the same arrivals.
    rules_app, rules_run = build(f"sqlite:///{workdir}/rules.sqlite", args.institutions,
                                 args.seed, args.exploration)
    rules = batch(rules_app, rules_run, args.batch, learn=False)

    app, run = build(f"sqlite:///{workdir}/learning.sqlite", args.institutions, args.seed,
                     args.exploration)
    curve = []
    print(f"{'batch':>5} {'decisions':>9} {'approval':>8} {'predicted':>9} "
          f"{'preq ECE':>8} {'elapsed':>7}")
    while run.decided < args.decisions:
        point = batch(app, run, args.batch)
        curve.append(point)
        print(f"{len(curve):>5} {run.decided:>9} {point['approval_rate']:>8.3f} "
              f"{point['predicted_rate']:>9.3f} {point['prequential_ece']:>8.4f} "
              f"{time.time() - started:>6.0f}s", flush=True)
    assert curve[0]["approval_rate"] == curve[0]["approval_rate"]

    with app.app_context():
        session = new_session()
        report = calibration.report(session, 0.2)
        session.close()
    overall = report["overall"]
    print(f"\ncalibration on {report['held_out']} held-out decisions (trained on "
          f"{report['trained_on']}):")
    print(f"{'institution':>12} {'decisions':>9} {'approved':>8} {'predicted':>9} "
          f"{'ECE':>7} {'Brier':>7} {'AUC':>6} {'slope':>6}")
    busiest = sorted(report["institutions"].items(), key=lambda kv: -kv[1].decisions)[:8]
    for name, m in [*busiest, ("all", overall)]:
        print(f"{name:>12} {m.decisions:>9} {m.approval_rate:>8.3f} {m.mean_prediction:>9.3f} "
              f"{m.ece:>7.4f} {m.brier:>7.4f} {m.auc:>6.3f} {m.slope:>6.2f}")
    last = curve[-1]
    tail = curve[-max(1, len(curve) // 5):]
    tail_p = np.concatenate([c["predicted"] for c in tail])
    tail_y = np.concatenate([c["approved"] for c in tail])
    prequential_tail = calibration.ece(tail_p, tail_y)
    print(f"\nprequential ECE over the last {len(tail_y)} decisions: {prequential_tail:.4f}")
    print(f"approval rate per routing, same first {args.batch} arrivals: rules-only prior "
          f"{rules['approval_rate']:.3f}; learned engine, first batch "
          f"{curve[0]['approval_rate']:.3f}, last batch {last['approval_rate']:.3f} "
          f"(×{last['approval_rate'] / max(rules['approval_rate'], 1e-9):.2f} the prior's)")

    png_dir = Path(args.png_dir)
    calibration.reliability_plot(report["predictions"], report["outcomes"],
                                 str(png_dir / "calibration.png"),
                                 f"approval model, {report['held_out']} held-out decisions")
    _curve_plot(curve, rules, str(png_dir / "learning_curve.png"))
    print(f"plots: {png_dir / 'learning_curve.png'}, {png_dir / 'calibration.png'}")
    for a in (app, rules_app):
        a.extensions["lendmatch.engine"].dispose()
    figures = {
        "decisions": run.decided, "applications": run.arrivals,
        "ece": round(overall.ece, 4), "brier": round(overall.brier, 4),
        "auc": round(overall.auc, 4), "slope": round(overall.slope, 3),
        "prequential_ece_tail": round(prequential_tail, 4),
        "approval_rate_first_batch": round(curve[0]["approval_rate"], 4),
        "approval_rate_last_batch": round(last["approval_rate"], 4),
        "approval_rate_rules_only": round(rules["approval_rate"], 4),
        "approval_rate_vs_rules_only": round(
            last["approval_rate"] / max(rules["approval_rate"], 1e-9), 3),
        "seconds": round(time.time() - started, 1),
    }
    print(json.dumps(figures))


def _curve_plot(curve, rules, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decisions = np.cumsum([c["decisions"] for c in curve])
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    top.plot(decisions, [c["approval_rate"] for c in curve], label="observed approval rate")
    top.plot(decisions, [c["predicted_rate"] for c in curve], "--",
             label="predicted (before deciding)")
    top.axhline(rules["approval_rate"], color="grey", linestyle=":",
                label="rules-only prior, same arrivals")
    top.set(ylabel="approval rate per routing")
    top.legend(loc="lower right")
    bottom.plot(decisions, [c["prequential_ece"] for c in curve])
    bottom.axhline(0.02, color="grey", linestyle=":", label="target 0.02")
    bottom.set(xlabel="decisions learned from", ylabel="prequential ECE per batch")
    bottom.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main()
