"""Routing weights (history, lock, rollback, audit) and capacity prices (the LP solve and
the online step between solves)."""

from datetime import timedelta

import numpy as np
import pytest
from journeys import Clock
from sqlalchemy import select

from app import create_app
from core.db import new_session
from jobs import runner
from learning.models import CapacityPriceSolve
from learning.prices import Demand, solve
from matching.models import RoutingTrace
from simulation import setup
from simulation.driver import fund_and_resolve, take_offers
from simulation.market import Policy


@pytest.fixture
def sim(database_url):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.0,
                      "PRODUCTS_PER_APPLICATION": 1, "MODEL_REFRESH_SECONDS": 0.0})
    app.extensions["lendmatch.routing"].clock = Clock()
    yield app
    app.extensions["lendmatch.engine"].dispose()


def build(app, policies, **lender):
    return setup.market(app, policies, seed=11, **lender)


def arrive(app, run, n):
    with app.app_context():
        session = new_session()
        answers = [run.arrive(session) for _ in range(n)]
        session.close()
    return answers


def weights_after_bad_loans(app):
    lenders, run = build(app, [Policy(approves_all=True), Policy(approves_all=True)])
    with app.app_context():
        session = new_session()
        for _ in range(40):
            run.arrive(session)
        run.decide_pending(session)
        fund_and_resolve(run, session, take_offers(run, session), bad=lambda offer: True)
        session.close()
    assert runner.run(app, "update-models").status == "done"
    assert runner.run(app, "recompute-weights").status == "done"
    return lenders


def test_weight_history_lock_and_rollback(sim, client, ops):
    lenders = weights_after_bad_loans(sim)
    product = lenders[0].product_ids[0]
    url = f"/v1/products/{product}/weights"
    [learned] = client.get(url, headers=ops).json
    assert learned["version"] == 1 and learned["is_current"] and not learned["locked"]
    assert learned["actor"] == "job:recompute-weights"
    assert learned["repayment_ratio"] < 1 < learned["approval_ratio"]  # all bad, all approved
    assert learned["multiplier"] == pytest.approx(min(2.0, learned["approval_ratio"]
        * learned["takeup_ratio"] * learned["repayment_ratio"]), abs=1e-3)
    assert learned["effective_weight"] == pytest.approx(learned["ops_weight"]
                                                        * learned["multiplier"])
    assert "repaid" in learned["reason"] and learned["evidence"]["loans"] > 0

    # Roll back to "no learned change" is not a version that exists: 422 names the field.
    bad = client.post(url + "/rollback", headers=ops, json={"version": 7, "reason": "x"})
    assert bad.status_code == 422 and "version" in bad.json["errors"]["json"]
    assert client.post(url + "/rollback", headers=ops, json={"version": 1}).status_code == 422

    locked = client.post(url, headers=ops, json={"locked": True, "reason": "under review"})
    assert locked.status_code == 201
    assert locked.json["version"] == 2 and locked.json["locked"]
    assert locked.json["multiplier"] == learned["multiplier"]

    # The hourly job leaves a locked weight alone, even with new evidence.
    outcome = runner.run(sim, "recompute-weights")
    assert outcome.summary["locked_skipped"] >= 1
    history = client.get(url, headers=ops).json
    assert [v["version"] for v in history] == [2, 1]
    assert [v["is_current"] for v in history] == [True, False]

    rolled = client.post(url + "/rollback", headers=ops,
                         json={"version": 1, "reason": "back to the learned value"})
    assert rolled.status_code == 201 and rolled.json["version"] == 3
    assert rolled.json["multiplier"] == learned["multiplier"] and rolled.json["locked"]

    audit = client.get("/v1/audit", headers=ops,
                       query_string={"object_type": "product", "object_id": product}).json
    actions = [entry["action"] for entry in audit]
    assert "weight_lock" in actions and "weight_rollback" in actions

    assert client.get("/v1/products/999999/weights", headers=ops).status_code == 404


def test_weights_and_models_are_for_ops_only(sim, client, make_key, ops):
    from core.principal import Role

    lenders = weights_after_bad_loans(sim)
    url = f"/v1/products/{lenders[0].product_ids[0]}/weights"
    for role in (Role.BORROWER_APP, Role.INSTITUTION):
        key = make_key(role, lenders[0].institution_id if role == Role.INSTITUTION else None)
        assert client.get(url, headers=key).status_code == 403
        assert client.get("/v1/models", headers=key).status_code == 403
    models = client.get("/v1/models", headers=ops, query_string={"kind": "repayment"}).json
    assert models and all(m["kind"] == "repayment" for m in models)


def test_rolling_back_a_model_makes_the_earlier_version_current(sim, client, ops):
    from learning import store
    from learning.models import ModelKind

    weights_after_bad_loans(sim)
    [first] = client.get("/v1/models", headers=ops, query_string={"kind": "repayment"}).json
    with sim.app_context():
        session = new_session()
        # A newer version that forgot everything: the prior.
        store.save(session, ModelKind.REPAYMENT, store.POSTERIORS[ModelKind.REPAYMENT](),
                   batch_rows=0, total_rows=0, summary={}, now=Clock()())
        session.commit()
        session.close()
    url = f"/v1/models/{first['id']}/rollback"
    assert client.post(url, headers=ops, json={}).status_code == 422
    assert client.post("/v1/models/999999/rollback", headers=ops,
                       json={"reason": "x"}).status_code == 404
    rolled = client.post(url, headers=ops, json={"reason": "the newer one overfits"})
    assert rolled.status_code == 201, rolled.json
    assert rolled.json["summary"]["rolled_back_to"] == first["id"]
    newest = client.get("/v1/models", headers=ops, query_string={"kind": "repayment"}).json[0]
    assert newest["id"] == rolled.json["id"] and newest["total_rows"] == first["total_rows"]
    with sim.app_context():
        session = new_session()
        restored, version = store.posterior(session, ModelKind.REPAYMENT)
        original = session.get(store.LearnedModel, first["id"]).params
        session.close()
    assert version == rolled.json["id"] and restored.to_json() == original
    assert original != store.POSTERIORS[ModelKind.REPAYMENT]().to_json()
    audit = client.get("/v1/audit", headers=ops, query_string={"object_type": "model"}).json
    assert audit[0]["action"] == "model_rollback"
    assert audit[0]["reason"] == "the newer one overfits"


def test_a_learned_multiplier_reaches_routing(sim, client, ops):
    lenders = weights_after_bad_loans(sim)
    product = lenders[0].product_ids[0]
    [learned] = client.get(f"/v1/products/{product}/weights", headers=ops).json
    _, run = build(sim, [])
    run.lenders = {le.institution_id: le for le in lenders}
    [answer] = arrive(sim, run, 1)
    with sim.app_context():
        session = new_session()
        trace = session.scalar(select(RoutingTrace.body).where(
            RoutingTrace.application_id == answer["id"]))
        session.close()
    weight = {e["product_id"]: e["weight"] for e in trace["eligible"]}
    assert weight[product] == pytest.approx(learned["effective_weight"])


def test_a_capacity_price_rises_as_its_cap_is_consumed(sim, client, ops):
    # Two lenders; the cheaper one, which routing prefers, has a cap far below the day's
    # demand.
    lenders, run = build(sim, [Policy(apr=0.12), Policy(apr=0.22)])
    with sim.app_context():
        from products.models import Product

        session = new_session()
        product = session.get(Product, lenders[0].product_ids[0])
        product.daily_application_cap = 60
        session.commit()
        session.close()
    arrive(sim, run, 20)
    first = runner.run(sim, "capacity-prices")
    assert first.status == "done" and first.summary["stored"]
    prices = client.get("/v1/capacity-prices", headers=ops).json
    entry = prices["prices"]["products"][str(lenders[0].product_ids[0])]
    assert entry["cap"] == 60 and entry["demand_rest"] > entry["cap"] - entry["used"]
    assert entry["price"] > 0

    # Between solves the price moves online with consumption ahead of the plan.
    context = sim.extensions["lendmatch.routing"]
    with sim.app_context():
        session = new_session()
        _, board = context.learned.get(session)
        catalogue = context.cache.get(session)
        session.close()
    position = np.flatnonzero(catalogue.product_id == lenders[0].product_ids[0])
    now, day = context.clock(), context.capacity_day(context.clock())
    prices_by_use = [board.price_of(catalogue, position, np.array([used]), np.array([0.0]),
                                    now, day)[0] for used in (20, 30, 40, 50)]
    assert prices_by_use[0] == pytest.approx(entry["price"], abs=1e-6)
    assert prices_by_use == sorted(prices_by_use) and prices_by_use[-1] > prices_by_use[0]

    # And a new solve after more of the cap is gone prices it at least as high.
    sim.extensions["lendmatch.routing"].clock.advance(minutes=5)
    arrive(sim, run, 20)
    second = runner.run(sim, "capacity-prices")
    with sim.app_context():
        session = new_session()
        solves = session.scalars(select(CapacityPriceSolve).order_by(CapacityPriceSolve.id)).all()
        session.close()
    later = solves[-1].prices["products"][str(lenders[0].product_ids[0])]
    assert second.summary["stored"] and later["used"] > entry["used"]
    assert later["price"] >= entry["price"]
    # A price belongs to its day: tomorrow starts unpriced until the next solve.
    assert board.price_of(catalogue, position, np.array([50.0]), np.array([0.0]),
                          now + timedelta(days=1), day + timedelta(days=1))[0] == 0


def test_the_lp_prices_only_binding_caps():
    class Catalogue:
        product_id = np.array([1, 2])
        institution_id = np.array([10, 20])
        product_cap = np.array([5.0, np.inf])
        institution_cap = np.array([np.inf, np.inf])

    demand = Demand([np.array([1, 2])] * 10, [np.array([2.0, 1.0])] * 10, forecast=100.0)
    scarce = solve(Catalogue, demand, {}, {}, k=1)["prices"]["products"]["1"]
    # 100 applicants want product 1 (score 2) over product 2 (score 1); 5 can have it:
    # one more unit of its cap is worth 2 - 1 = 1.
    assert scarce["price"] == pytest.approx(1.0) and scarce["planned_rest"] == pytest.approx(5)
    plenty = Demand([np.array([1, 2])] * 10, [np.array([2.0, 1.0])] * 10, forecast=3.0)
    assert solve(Catalogue, plenty, {}, {}, k=1)["prices"]["products"]["1"]["price"] == 0


def test_pruning_uncapped_products_leaves_the_price_lp_unchanged():
    rng = np.random.default_rng(3)

    class Catalogue:
        product_id = np.arange(1, 41)
        institution_id = np.repeat(np.arange(100, 120), 2)
        product_cap = np.where(rng.random(40) < 0.2, 30.0, np.inf)
        institution_cap = np.where(np.repeat(rng.random(20), 2) < 0.2, 50.0, np.inf)

    samples = [rng.choice(Catalogue.product_id, size=25, replace=False) for _ in range(60)]
    demand = Demand(samples, [rng.normal(0.3, 0.4, 25) for _ in samples], forecast=900.0)
    capped = Catalogue.product_id[np.isfinite(Catalogue.product_cap)].tolist()
    # The same optimum at every remaining capacity: the same value function, so the
    # same LP (its duals may pick different points of a kink).
    for used in (0, 10, 25):
        used_product = {p: used for p in capped}
        pruned = solve(Catalogue, demand, used_product, {}, k=3)
        full = solve(Catalogue, demand, used_product, {}, k=3, prune=False)
        assert pruned["summary"]["objective"] == pytest.approx(full["summary"]["objective"])
        assert pruned["summary"]["priced"] > 0
        for scope in ("products", "institutions"):
            assert pruned["prices"][scope].keys() == full["prices"][scope].keys()
