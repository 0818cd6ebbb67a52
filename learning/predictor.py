"""The learned models, as routing uses them: approval (mean and Thompson samples),
take-up and loss per eligible product, vectorised over the compiled catalogue."""

import threading

import numpy as np

from learning import approval as approval_model
from learning.approval import ApprovalPosterior, CompiledApproval
from learning.repayment import RepaymentPosterior
from learning.takeup import TakeupPosterior
from matching import features
from matching.applicant import Applicant
from matching.catalogue import CompiledCatalogue
from matching.predictions import Predictions


class LearnedPredictor:
    def __init__(self, approval: ApprovalPosterior | None = None,
                 takeup: TakeupPosterior | None = None,
                 repayment: RepaymentPosterior | None = None,
                 versions: dict[str, int | None] | None = None):
        self.approval = approval or ApprovalPosterior()
        self.takeup = takeup or TakeupPosterior()
        self.repayment = repayment or RepaymentPosterior()
        self.versions = versions or {}
        version = self.versions.get("approval")
        self.name = f"{approval_model.NAME}@{version or 'prior'}"
        self._compiled: tuple[int, CompiledApproval, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _for(self, catalogue: CompiledCatalogue) -> tuple[CompiledApproval, np.ndarray]:
        compiled = self._compiled
        if compiled is None or compiled[0] != catalogue.version:
            with self._lock:
                offsets = np.array([self.repayment.institutions.get(i, (0.0, 0.0))[0]
                                    for i in catalogue.institution_id.tolist()], dtype=float)
                compiled = (catalogue.version, self.approval.compile(catalogue), offsets)
                self._compiled = compiled
        return compiled[1], compiled[2]

    def predict(self, catalogue: CompiledCatalogue, applicant: Applicant, index: np.ndarray,
                explore: bool, rng: np.random.Generator, draws: int = 0) -> Predictions:
        approval, bad_offsets = self._for(catalogue)
        X = features.approval(catalogue, applicant, index)
        moments = approval.moments(catalogue, X, index)
        mean = approval.mean(moments)
        greedy = approval.lower(moments, approval_model.PESSIMISM_Z)
        samples = None
        probability = greedy
        if explore or draws:
            samples = approval.sample(moments, rng, max(draws, 1))
            if explore:
                probability = samples[0]  # the draw acted on is one of the logged draws
        apr_mid = (catalogue.apr_min[index] + catalogue.apr_max[index]) / 2
        takeup = self.takeup.for_products(apr_mid, catalogue.amount_max[index],
                                          applicant.amount)
        R = features.repayment_row(applicant, apr_mid)
        bad = 1.0 / (1.0 + np.exp(-(R @ self.repayment.market.mean + bad_offsets[index])))
        return Predictions(mean=mean, greedy=greedy, probability=probability, takeup=takeup,
                           bad=bad,
                           draws=samples if draws else None, explored=explore, features=X)
