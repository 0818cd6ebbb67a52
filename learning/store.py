"""Reading and writing model versions and price solves, and the per-process cache that
routing reads them through.

Web workers never restart to pick up a model: every ``REFRESH_SECONDS`` (setting
``LENDMATCH_MODEL_REFRESH_SECONDS``) a request reads the newest version ids (one small
query) and loads whatever changed.
"""

import threading
import time
from datetime import datetime

from sqlalchemy import String, func, literal, select, type_coerce, union_all
from sqlalchemy.orm import Session

from core import audit
from core.db import transaction
from core.errors import NotFound
from core.principal import Principal
from learning.approval import ApprovalPosterior
from learning.models import CapacityPriceSolve, LearnedModel, ModelKind
from learning.predictor import LearnedPredictor
from learning.prices import PriceBoard, end_of_day
from learning.repayment import RepaymentPosterior
from learning.takeup import TakeupPosterior

POSTERIORS = {ModelKind.APPROVAL: ApprovalPosterior, ModelKind.TAKEUP: TakeupPosterior,
              ModelKind.REPAYMENT: RepaymentPosterior}


def latest(session: Session, kind: ModelKind) -> LearnedModel | None:
    return session.scalars(select(LearnedModel).where(LearnedModel.kind == kind)
                           .order_by(LearnedModel.id.desc()).limit(1)).first()


def posterior(session: Session, kind: ModelKind):
    """The newest posterior of ``kind`` (its prior before any version) and its id."""
    row = latest(session, kind)
    if row is None:
        return POSTERIORS[kind](), None
    return POSTERIORS[kind].from_json(row.params), row.id


def save(session: Session, kind: ModelKind, fitted, *, batch_rows: int, total_rows: int,
         summary: dict, now: datetime) -> LearnedModel:
    row = LearnedModel(kind=kind, created_at=now, batch_rows=batch_rows,
                       total_rows=total_rows, params=fitted.to_json(), summary=summary)
    session.add(row)
    session.flush()
    return row


def rollback(session: Session, who: Principal, model_id: int, *, reason: str,
             now: datetime) -> LearnedModel:
    """Make an earlier version current again by saving a copy of it as the newest.

    Every web worker picks the copy up on its next refresh, as it would a new update. The
    labels learned after that version stay marked as learned, so the next ``update-models``
    run continues from the restored posterior with new labels only: a rollback forgets
    what the versions after it learned, which is what it is for."""
    with transaction(session):
        source = session.get(LearnedModel, model_id)
        if source is None:
            raise NotFound(f"no model version {model_id}")
        current = latest(session, source.kind)
        row = LearnedModel(kind=source.kind, created_at=now, batch_rows=0,
                           total_rows=source.total_rows, params=source.params,
                           summary={"rolled_back_to": source.id, "reason": reason,
                                    "replaced": current.id})
        session.add(row)
        session.flush()
        audit.record(session, who, "model_rollback", "model", source.kind.value,
                     before={"version": current.id}, after={"version": row.id,
                                                            "copy_of": source.id},
                     reason=reason)
    return row


def latest_solve(session: Session) -> CapacityPriceSolve | None:
    return session.scalars(select(CapacityPriceSolve)
                           .order_by(CapacityPriceSolve.id.desc()).limit(1)).first()


_NEWEST = union_all(
    select(type_coerce(LearnedModel.kind, String).label("kind"),
           func.max(LearnedModel.id).label("id")).group_by(LearnedModel.kind),
    select(literal("prices").label("kind"), func.max(CapacityPriceSolve.id).label("id")),
)


class LearnedCache:
    """This process's predictor and price board, refreshed when a newer version exists."""

    def __init__(self, refresh_seconds: float, price_step: float, zone):
        self.refresh_seconds, self.price_step, self.zone = refresh_seconds, price_step, zone
        self.predictor = LearnedPredictor()
        self.prices: PriceBoard | None = None
        self._versions: dict[str, int | None] = {}
        self._checked = -float("inf")
        self._lock = threading.Lock()

    def get(self, session: Session) -> tuple[LearnedPredictor, PriceBoard | None]:
        if time.monotonic() - self._checked >= self.refresh_seconds:
            self.refresh(session)
        return self.predictor, self.prices

    def refresh(self, session: Session) -> None:
        newest = {str(r.kind): r.id for r in session.connection().execute(_NEWEST)}
        with self._lock:
            self._checked = time.monotonic()
            models = {k: newest.get(k) for k in map(str, ModelKind)}
            if any(models[k] != self._versions.get(k) for k in models):
                self.predictor = LearnedPredictor(
                    *(self._load(session, ModelKind(k), models[k]) for k in
                      (ModelKind.APPROVAL, ModelKind.TAKEUP, ModelKind.REPAYMENT)),
                    versions=models)
            if newest.get("prices") != self._versions.get("prices"):
                solve = session.get(CapacityPriceSolve, newest["prices"]) \
                    if newest.get("prices") else None
                self.prices = None if solve is None else PriceBoard(
                    solve.prices, solve.solved_at, solve.day,
                    end_of_day(solve.solved_at, self.zone), self.price_step)
            self._versions = {**models, "prices": newest.get("prices")}

    @staticmethod
    def _load(session: Session, kind: ModelKind, version: int | None):
        if version is None:
            return POSTERIORS[kind]()
        return POSTERIORS[kind].from_json(session.get(LearnedModel, version).params)
