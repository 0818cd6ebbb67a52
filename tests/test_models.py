"""The learning maths on synthetic data with known answers, and the calibration report."""

import numpy as np
import pytest
from journeys import Clock

from app import create_app
from core.db import new_session
from jobs import runner
from learning import calibration
from learning.approval import ApprovalPosterior
from learning.bayes import Gaussian, laplace, sigmoid
from learning.takeup import TakeupPosterior, offer_features
from simulation import setup
from simulation.driver import Run
from simulation.market import Policy


def synthetic(rng, n, w):
    X = np.column_stack([np.ones(n), rng.normal(size=(n, len(w) - 1))])
    y = (rng.random(n) < sigmoid(X @ w)).astype(float)
    return X, y


def test_laplace_recovers_the_coefficients_and_batches_add_up():
    rng = np.random.default_rng(1)
    w = np.array([-0.5, 1.0, -2.0])
    X, y = synthetic(rng, 20_000, w)
    vague = Gaussian(np.zeros(3), np.eye(3) * 100)
    once = laplace(vague, X, y)
    assert once.mean == pytest.approx(w, abs=0.08)
    assert np.all(np.sqrt(np.diag(once.cov)) < 0.05)
    batched = vague
    for start in range(0, len(y), 2000):
        batched = laplace(batched, X[start:start + 2000], y[start:start + 2000])
    assert batched.mean == pytest.approx(once.mean, abs=0.02)


def test_pooling_a_new_product_starts_from_its_institution():
    rng = np.random.default_rng(2)
    n = 3000
    X = np.column_stack([np.ones(n), rng.random((n, 7))])
    institution = np.where(np.arange(n) % 2 == 0, 1, 2)
    product = np.where(institution == 1, 11, 21)
    # Institution 1 approves most, institution 2 almost nobody.
    y = rng.random(n) < np.where(institution == 1, 0.8, 0.05)
    posterior = ApprovalPosterior().update(X, y, institution, product)
    x = X[:1]
    generous = posterior.institutions[1].mean @ x[0]
    strict = posterior.institutions[2].mean @ x[0]
    assert sigmoid(generous) > 0.6 and sigmoid(strict) < 0.15
    # A product it has never seen has intercept 0 on top of its institution.
    assert 12 not in posterior.products
    # Round trip through storage.
    again = ApprovalPosterior.from_json(posterior.to_json())
    assert again.institutions[2].mean == pytest.approx(posterior.institutions[2].mean)
    assert again.products == posterior.products


def test_takeup_learns_that_borrowers_prefer_cheaper_and_enough():
    rng = np.random.default_rng(3)
    truth = np.array([1.5, -2.0, -3.0, -2.5])
    blocks, chosen, sets = [], [], []
    for s in range(3000):
        k = int(rng.integers(1, 4))
        apr = rng.uniform(0.08, 0.24, k)
        amount = rng.choice([3000, 5000, 10000], k)
        F = offer_features(apr, amount, 10000.0)
        u = np.exp(F @ truth)
        p = np.r_[u, 1.0] / (1 + u.sum())
        pick = rng.choice(k + 1, p=p)
        blocks.append(F)
        chosen += [float(i == pick) for i in range(k)]
        sets += [s] * k
    F, chosen, sets = np.vstack(blocks), np.array(chosen), np.array(sets)
    fitted = TakeupPosterior().update(F, chosen, sets)
    theta = fitted.belief.mean
    # The two APR terms are partly collinear; each is negative, and together right.
    assert theta[1] < 0 and theta[3] < 0
    assert theta[1] + theta[3] == pytest.approx(truth[1] + truth[3], abs=0.5)
    assert theta[2] == pytest.approx(truth[2], abs=0.5)
    assert fitted.choice_sets == 3000
    p = fitted.probabilities(F, sets)
    assert np.all(np.bincount(sets, p) < 1)          # "take none" keeps some probability
    assert p.sum() == pytest.approx(chosen.sum(), rel=0.05)


def test_calibration_metrics_tell_good_from_overconfident():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.02, 0.98, 50_000)
    y = (rng.random(len(p)) < p).astype(float)
    assert calibration.ece(p, y) < 0.01
    assert calibration.slope(p, y) == pytest.approx(1.0, abs=0.05)
    logit = np.log(p / (1 - p))
    overconfident = sigmoid(2 * logit)
    assert calibration.slope(overconfident, y) == pytest.approx(0.5, abs=0.05)
    assert calibration.ece(overconfident, y) > 0.05
    assert calibration.auc(p, y) > 0.75
    assert calibration.auc(rng.random(len(p)), y) == pytest.approx(0.5, abs=0.02)
    assert calibration.brier(p, y) < calibration.brier(overconfident, y)


def test_the_calibration_command_reports_per_institution_and_draws_a_plot(database_url,
                                                                          tmp_path):
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "EXPLORATION_RATE": 0.1,
                      "PRODUCTS_PER_APPLICATION": 2, "MODEL_REFRESH_SECONDS": 0.0})
    app.extensions["lendmatch.routing"].clock = Clock()
    cli = app.test_cli_runner()
    assert cli.invoke(args=["calibration"]).exit_code == 1  # nothing to score yet
    with app.app_context():
        session = new_session()
        lenders = [setup.add_lender(session, app.config, f"Lender {i}", Policy(base=b))
                   for i, b in enumerate([0.5, -0.5, -1.5])]
        run = Run(app, {le.institution_id: le for le in lenders}, setup.borrower_app(session),
                  seed=9, clock=app.extensions["lendmatch.routing"].clock)
        for _ in range(4):
            for _ in range(50):
                run.arrive(session)
            run.decide_pending(session)
            runner.run(app, "update-models")
        session.close()
    png = tmp_path / "reliability.png"
    result = cli.invoke(args=["calibration", "--holdout", "0.3", "--png", str(png)])
    app.extensions["lendmatch.engine"].dispose()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "held out" in lines[0]
    assert lines[1].split() == ["institution", "decisions", "approved", "predicted", "ECE",
                                "Brier", "AUC", "slope"]
    rows = {line.split()[0]: line.split() for line in lines[2:-1]}
    assert {str(le.institution_id) for le in lenders} | {"all"} <= set(rows)
    overall = rows["all"]
    assert 0 <= float(overall[4]) <= 1 and 0 < float(overall[5]) < 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_laplace_reaches_the_mode_from_a_prior_far_from_it():
    # Plain Newton overshoots here (a repayment model once jumped to an intercept of +5
    # on 60 loans); with backtracking the gradient at the result is zero.
    rng = np.random.default_rng(5)
    X = np.column_stack([np.ones(60), rng.random((60, 3)) * 3, np.full(60, 1.5)])
    y = (rng.random(60) < 0.55).astype(float)
    prior = Gaussian(np.array([-3.0, 0.0, 0.0, 0.0, 0.1]), np.eye(5) * 0.25)
    fitted = laplace(prior, X, y)
    gradient = (X.T @ (sigmoid(X @ fitted.mean) - y)
                + np.linalg.inv(prior.cov) @ (fitted.mean - prior.mean))
    assert np.max(np.abs(gradient)) < 1e-6
    assert 0.4 < sigmoid(X @ fitted.mean).mean() < 0.7
