"""P(institution approves | applicant, product): Bayesian logistic regression over the
features of ``matching/features.py``, pooled market → institution → product.

* **Market**: one coefficient vector for every decision, starting from the rules-depth
  prior's coefficients (``matching/prior.py``) with standard deviation ``MARKET_SD``.
* **Institution**: its own coefficient vector. An institution's first decisions start
  from the market's posterior widened by ``INSTITUTION_SD`` (so a new institution
  behaves like the market until its own decisions say otherwise).
* **Product**: an intercept on top of its institution, starting at 0 with standard
  deviation ``PRODUCT_SD`` (so a new product starts from its institution's experience).

Each level's posterior is a Laplace approximation (``learning/bayes.py``), updated
incrementally on each batch of new decisions. Before every update each institution's and
product's posterior is widened by ``DRIFT_SD²``, so a model keeps tracking an institution
whose policy changes. Approximation, knowingly taken: a product's decisions count in its
institution's posterior and again in its intercept.

A routing that expired without a decision counts as not approved; withdrawn routings
(the borrower took another offer first) are not labels.
"""

from dataclasses import dataclass, field

import numpy as np

from learning.bayes import Gaussian, laplace, laplace_intercepts, sigmoid
from matching.catalogue import CompiledCatalogue
from matching.prior import COEFFICIENTS

MARKET_SD = np.array([1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
INSTITUTION_SD = 0.5
PRODUCT_SD = 0.7
DRIFT_SD = 0.05
# Routing exploits on the approval probability this many posterior standard deviations
# below the mean logit (about the 16th percentile); see ``CompiledApproval.lower``.
PESSIMISM_Z = 1.0
PROBABILITY_FLOOR, PROBABILITY_CEILING = 0.001, 0.999
NAME = "bayes-logit-pooled"


def predictive(mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    """The posterior predictive probability of a logit ~ N(mu, var) (probit approximation
    of the logistic integral), so the uncertain are not over-confident."""
    return np.clip(sigmoid(mu / np.sqrt(1.0 + np.pi * var / 8.0)), PROBABILITY_FLOOR,
                   PROBABILITY_CEILING)


def prior() -> Gaussian:
    return Gaussian(COEFFICIENTS.copy(), np.diag(MARKET_SD ** 2))


@dataclass(frozen=True)
class ApprovalPosterior:
    market: Gaussian = field(default_factory=prior)
    institutions: dict[int, Gaussian] = field(default_factory=dict)
    products: dict[int, tuple[float, float]] = field(default_factory=dict)  # mean, variance
    decisions: int = 0

    def update(self, X: np.ndarray, approved: np.ndarray, institution_ids: np.ndarray,
               product_ids: np.ndarray) -> "ApprovalPosterior":
        """The posterior after one more batch of decisions (rows of features)."""
        if len(approved) == 0:
            return self
        y = approved.astype(float)
        market = laplace(self.market, X, y)
        institutions = {i: g.inflated(DRIFT_SD ** 2) for i, g in self.institutions.items()}
        for institution in np.unique(institution_ids).tolist():
            rows = institution_ids == institution
            start = institutions.get(institution) or self.market.inflated(INSTITUTION_SD ** 2)
            institutions[institution] = laplace(start, X[rows], y[rows])
        products = {p: (m, v + DRIFT_SD ** 2) for p, (m, v) in self.products.items()}
        seen, groups = np.unique(product_ids, return_inverse=True)
        starts = [products.get(p, (0.0, PRODUCT_SD ** 2)) for p in seen.tolist()]
        offset = np.einsum("nd,nd->n", X, np.stack(
            [institutions[i].mean for i in institution_ids.tolist()]))
        means, variances = laplace_intercepts(
            np.array([s[0] for s in starts]), np.array([s[1] for s in starts]),
            groups, offset, y)
        products.update({p: (float(m), float(v)) for p, m, v in zip(
            seen.tolist(), means, variances, strict=True)})
        return ApprovalPosterior(market, institutions, products, self.decisions + len(y))

    def to_json(self) -> dict:
        return {"market": self.market.to_json(),
                "institutions": {str(i): g.to_json() for i, g in self.institutions.items()},
                "products": {str(p): list(mv) for p, mv in self.products.items()},
                "decisions": self.decisions}

    @classmethod
    def from_json(cls, data: dict) -> "ApprovalPosterior":
        return cls(Gaussian.from_json(data["market"]),
                   {int(i): Gaussian.from_json(g) for i, g in data["institutions"].items()},
                   {int(p): (mv[0], mv[1]) for p, mv in data["products"].items()},
                   data["decisions"])

    def predict(self, X: np.ndarray, institution_ids: np.ndarray,
                product_ids: np.ndarray) -> np.ndarray:
        """The predictive probability of each row, as routing would compute it (for
        offline evaluation, where rows come with ids rather than catalogue positions)."""
        fallback = self.market.inflated(INSTITUTION_SD ** 2)
        used, local = np.unique(institution_ids, return_inverse=True)
        beliefs = [self.institutions.get(i, fallback) for i in used.tolist()]
        means = np.stack([g.mean for g in beliefs])[local]
        covs = np.stack([g.cov for g in beliefs])[local]
        product = np.array([self.products.get(p, (0.0, PRODUCT_SD ** 2))
                            for p in np.asarray(product_ids).tolist()]).reshape(-1, 2)
        return predictive(np.einsum("nd,nd->n", X, means) + product[:, 0],
                          np.einsum("nd,nde,ne->n", X, covs, X) + product[:, 1])

    def compile(self, catalogue: CompiledCatalogue) -> "CompiledApproval":
        """Arrays aligned with the catalogue, for the request path."""
        institution_ids, first = np.unique(catalogue.institution_id, return_index=True)
        fallback = self.market.inflated(INSTITUTION_SD ** 2)
        beliefs = [self.institutions.get(i, fallback) for i in institution_ids.tolist()]
        means = np.stack([g.mean for g in beliefs]) if beliefs else np.zeros((0, 8))
        covs = np.stack([g.cov for g in beliefs]) if beliefs else np.zeros((0, 8, 8))
        chol = np.linalg.cholesky(covs) if len(covs) else covs
        product = [self.products.get(p, (0.0, PRODUCT_SD ** 2))
                   for p in catalogue.product_id.tolist()]
        return CompiledApproval(
            institution_mean=means, institution_cov=covs, institution_chol=chol,
            product_mean=np.array([m for m, _ in product], dtype=float),
            product_var=np.array([v for _, v in product], dtype=float))


@dataclass(frozen=True)
class Moments:
    """The posterior of each product's approval logit for one applicant: its mean, and
    ``W`` with ``W·z`` a draw of its institution's part (``W = xᵀL``, ``L`` the Cholesky
    factor of the institution's covariance), so variance = |W|² + the product's."""

    group: np.ndarray
    mu: np.ndarray
    W: np.ndarray
    var: np.ndarray
    product_sd: np.ndarray


@dataclass(frozen=True)
class CompiledApproval:
    institution_mean: np.ndarray   # [I, d], I in catalogue.institution_index order
    institution_cov: np.ndarray    # [I, d, d]
    institution_chol: np.ndarray   # [I, d, d]
    product_mean: np.ndarray       # [P]
    product_var: np.ndarray        # [P]

    def moments(self, catalogue: CompiledCatalogue, X: np.ndarray,
                index: np.ndarray) -> Moments:
        group = catalogue.institution_index[index]
        mu = np.einsum("nd,nd->n", X, self.institution_mean[group]) + self.product_mean[index]
        W = np.einsum("nd,nde->ne", X, self.institution_chol[group])
        product_var = self.product_var[index]
        return Moments(group, mu, W, np.einsum("ne,ne->n", W, W) + product_var,
                       np.sqrt(product_var))

    @staticmethod
    def mean(m: Moments) -> np.ndarray:
        return predictive(m.mu, m.var)

    @staticmethod
    def lower(m: Moments, z: float) -> np.ndarray:
        """A pessimistic estimate: the probability at ``z`` posterior standard deviations
        below the mean logit. What routing exploits on, so that a product it knows little
        about gets its traffic from the exploration budget, not from hope."""
        return np.clip(sigmoid(m.mu - z * np.sqrt(m.var)), PROBABILITY_FLOOR,
                       PROBABILITY_CEILING)

    @staticmethod
    def sample(m: Moments, rng: np.random.Generator, draws: int = 1) -> np.ndarray:
        """``draws`` Thompson samples, [draws, n]: one coefficient vector per institution
        per draw (shared by its products) and one intercept per product."""
        used, local = np.unique(m.group, return_inverse=True)
        # Single precision is plenty for draws that only rank products, and twice as fast.
        z = rng.standard_normal((draws, len(used), m.W.shape[1]), dtype=np.float32)
        noise = np.einsum("ne,mne->mn", m.W.astype(np.float32), z[:, local])
        noise += m.product_sd[None] * rng.standard_normal((draws, len(m.mu)), dtype=np.float32)
        logits = m.mu[None] + noise
        return np.clip(sigmoid(logits), PROBABILITY_FLOOR, PROBABILITY_CEILING)
