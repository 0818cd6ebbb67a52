"""How well the approval model's probabilities match what institutions decided.

``report`` replays the logged decisions in time order: the model is trained
incrementally (as the ``update-models`` job would) on the earlier share and scored on
the later, held-out share, per institution and overall:

* **ECE**: mean |observed rate - mean prediction| over ``BINS`` equal-width bins,
  weighted by the bins' sizes;
* **Brier**: mean squared error of the probabilities;
* **AUC**: the chance an approval is ranked above a decline;
* **slope**: the coefficient of a logistic regression of the outcome on logit(p) (1 is
  perfect; below 1 the model is over-confident).
"""

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from learning.approval import ApprovalPosterior
from learning.bayes import Gaussian, laplace
from learning.training import DECIDED
from matching.models import Routing, RoutingStatus

BINS = 10
TRAINING_BATCH = 2000


def ece(p: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    if len(p) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(y[inside].mean() - p[inside].mean())
    return float(total / len(p))


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2)) if len(p) else float("nan")


def auc(p: np.ndarray, y: np.ndarray) -> float:
    positives, negatives = y == 1, y == 0
    if not positives.any() or not negatives.any():
        return float("nan")
    ranks = np.empty(len(p))
    order = np.argsort(p, kind="stable")
    ranks[order] = np.arange(1, len(p) + 1)
    for value in np.unique(p):  # average ranks of ties
        tied = p == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    n_pos, n_neg = positives.sum(), negatives.sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def slope(p: np.ndarray, y: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return float("nan")
    q = np.clip(p, 1e-6, 1 - 1e-6)
    X = np.column_stack([np.ones(len(q)), np.log(q / (1 - q))])
    fit = laplace(Gaussian(np.zeros(2), np.eye(2) * 1e6), X, y.astype(float))
    return float(fit.mean[1])


@dataclass(frozen=True)
class Metrics:
    decisions: int
    approval_rate: float
    mean_prediction: float
    ece: float
    brier: float
    auc: float
    slope: float

    @classmethod
    def of(cls, p: np.ndarray, y: np.ndarray) -> "Metrics":
        return cls(len(p), float(y.mean()) if len(y) else float("nan"),
                   float(p.mean()) if len(p) else float("nan"), ece(p, y), brier(p, y),
                   auc(p, y), slope(p, y))


def decisions(session: Session):
    rows = session.execute(
        select(Routing.features, Routing.status, Routing.institution_id, Routing.product_id)
        .where(Routing.status.in_(DECIDED), Routing.features.is_not(None))
        .order_by(Routing.id)).all()
    X = np.array([r.features for r in rows], dtype=float).reshape(len(rows), -1)
    y = np.array([r.status == RoutingStatus.APPROVED for r in rows], dtype=float)
    return (X, y, np.array([r.institution_id for r in rows], dtype=np.int64),
            np.array([r.product_id for r in rows], dtype=np.int64))


def report(session: Session, holdout: float = 0.2) -> dict:
    X, y, institutions, products = decisions(session)
    split = int(len(y) * (1 - holdout))
    posterior = ApprovalPosterior()
    for start in range(0, split, TRAINING_BATCH):
        end = min(start + TRAINING_BATCH, split)
        posterior = posterior.update(X[start:end], y[start:end], institutions[start:end],
                                     products[start:end])
    p = (posterior.predict(X[split:], institutions[split:], products[split:]) if split < len(y)
         else np.zeros(0))
    held = y[split:]
    per_institution = {int(i): Metrics.of(p[institutions[split:] == i],
                                          held[institutions[split:] == i])
                       for i in np.unique(institutions[split:]).tolist()}
    return {"trained_on": split, "held_out": len(held), "overall": Metrics.of(p, held),
            "institutions": per_institution, "predictions": p, "outcomes": held}


def reliability(p: np.ndarray, y: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per non-empty equal-width bin: mean prediction, observed rate and size."""
    which = np.minimum((p * bins).astype(int), bins - 1)
    points = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            points.append({"predicted": float(p[inside].mean()),
                           "observed": float(y[inside].mean()), "count": int(inside.sum())})
    return points


def reliability_plot(p: np.ndarray, y: np.ndarray, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = reliability(p, y)
    centers = [b["predicted"] for b in points]
    rates = [b["observed"] for b in points]
    sizes = [b["count"] for b in points]
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    axis.scatter(centers, rates, s=[20 + 200 * s / max(sizes) for s in sizes] if sizes else 20,
                 label="held-out decisions")
    axis.plot(centers, rates)
    axis.set(xlabel="predicted P(approve)", ylabel="observed approval rate", title=title,
             xlim=(0, 1), ylim=(0, 1))
    axis.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
