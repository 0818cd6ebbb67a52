"""The catalogue compiled into numpy arrays, one entry per routable product, and the
per-process cache that recompiles it when the catalogue version moves.

Everything on the request path reads these arrays; nothing loops over ORM objects.
"""

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.regions import CODES
from learning.models import ProductWeightVersion
from lenders.models import Institution, InstitutionStatus
from products import catalogue_version
from products.models import Borrowers, Channel, Employment, Product, ProductStatus, TermUnit

REGIONS = tuple(sorted(CODES))
REGION_INDEX = {code: i for i, code in enumerate(REGIONS)}
EMPLOYMENTS = tuple(e.value for e in Employment)
EMPLOYMENT_INDEX = {value: i for i, value in enumerate(EMPLOYMENTS)}
CHANNELS = tuple(c.value for c in Channel)
CHANNEL_INDEX = {value: i for i, value in enumerate(CHANNELS)}
DAYS_PER = {TermUnit.DAY: 1, TermUnit.MONTH: 30}


@dataclass(frozen=True)
class CompiledCatalogue:
    """Column arrays over the active and paused products (retired ones are gone)."""

    version: int
    product_id: np.ndarray          # int64 [P]
    institution_id: np.ndarray      # int64 [P]
    institution_index: np.ndarray   # int64 [P], dense 0..I-1, for one-per-institution
    amount_min: np.ndarray
    amount_max: np.ndarray
    term_min_days: np.ndarray
    term_max_days: np.ndarray
    apr_min: np.ndarray
    apr_max: np.ndarray
    age_min: np.ndarray
    age_max: np.ndarray
    income_min: np.ndarray
    score_min: np.ndarray           # nan: no minimum
    accepts_no_score: np.ndarray    # bool
    dti_max: np.ndarray             # inf: no maximum
    serves_region: np.ndarray       # bool [P, regions]: served, licensed and not excluded
    accepts_employment: np.ndarray  # bool [P, employments]
    serves_channel: np.ndarray      # bool [P, channels]
    accepts_first_loan: np.ndarray  # bool
    accepts_repeat: np.ndarray      # bool
    product_paused: np.ndarray      # bool
    institution_paused: np.ndarray  # bool
    weight: np.ndarray              # effective: ops weight × learned multiplier
    product_cap: np.ndarray         # float, inf: no daily application cap
    institution_cap: np.ndarray     # float [P], the product's institution's cap
    institution_sla: np.ndarray     # float [P], seconds the institution has to decide
    institution_webhook: np.ndarray  # bool [P]: its institution takes signed webhooks
    # Shown to borrowers: plain Python lists, indexed like the arrays.
    product_name: list[str]
    product_type: list[str]
    institution_name: list[str]
    term_min: list[int]
    term_max: list[int]
    term_unit: list[str]

    @property
    def size(self) -> int:
        return len(self.product_id)


def compile_catalogue(session: Session) -> CompiledCatalogue:
    # Read the version first: the rows read next are at least that new, so a change that
    # lands in between only causes one more recompilation, never a stale cache.
    version = catalogue_version.current(session)
    rows = session.execute(
        select(Product.id, Product.institution_id, Product.name, Product.type,
               Product.amount_min, Product.amount_max, Product.term_min, Product.term_max,
               Product.term_unit, Product.apr_min, Product.apr_max, Product.age_min,
               Product.age_max, Product.income_min, Product.score_min,
               Product.accepts_no_score, Product.dti_max, Product.regions,
               Product.regions_excluded, Product.employment, Product.channels,
               Product.borrowers, Product.daily_application_cap,
               (Product.weight * func.coalesce(ProductWeightVersion.multiplier, 1.0))
               .label("weight"),
               Product.status, Institution.name.label("institution_name"),
               Institution.status.label("institution_status"),
               Institution.licensed_regions,
               Institution.daily_application_cap.label("institution_cap"),
               Institution.decision_sla_seconds,
               (Institution.webhook_url.is_not(None) & Institution.webhook_secret.is_not(None))
               .label("institution_webhook"))
        .join(Institution, Institution.id == Product.institution_id)
        .outerjoin(ProductWeightVersion, (ProductWeightVersion.product_id == Product.id)
                   & ProductWeightVersion.is_current.is_(True))
        .where(Product.status != ProductStatus.RETIRED)
        .order_by(Product.id)
    ).all()
    return _arrays(version, rows)


def _arrays(version: int, rows) -> CompiledCatalogue:
    count = len(rows)

    def column(name, dtype=float, missing=None):
        values = [getattr(r, name) for r in rows]
        if missing is not None:
            values = [missing if v is None else v for v in values]
        return np.array(values, dtype=dtype).reshape(count)

    serves_region = np.zeros((count, len(REGIONS)), dtype=bool)
    accepts_employment = np.zeros((count, len(EMPLOYMENTS)), dtype=bool)
    serves_channel = np.zeros((count, len(CHANNELS)), dtype=bool)
    for i, row in enumerate(rows):  # compile time only, not the request path
        served = set(row.regions or row.licensed_regions) & set(row.licensed_regions)
        for code in served - set(row.regions_excluded):
            serves_region[i, REGION_INDEX[code]] = True
        accepts_employment[i, [EMPLOYMENT_INDEX[e] for e in row.employment or EMPLOYMENTS]] = True
        serves_channel[i, [CHANNEL_INDEX[c] for c in row.channels or CHANNELS]] = True

    institution_id = column("institution_id", np.int64)
    _, institution_index = np.unique(institution_id, return_inverse=True)
    days = np.array([DAYS_PER[TermUnit(r.term_unit)] for r in rows], dtype=float)
    borrowers = [Borrowers(r.borrowers) for r in rows]
    return CompiledCatalogue(
        version=version,
        product_id=column("id", np.int64),
        institution_id=institution_id,
        institution_index=institution_index.astype(np.int64).reshape(count),
        amount_min=column("amount_min"),
        amount_max=column("amount_max"),
        term_min_days=column("term_min") * days,
        term_max_days=column("term_max") * days,
        apr_min=column("apr_min"),
        apr_max=column("apr_max"),
        age_min=column("age_min"),
        age_max=column("age_max"),
        income_min=column("income_min"),
        score_min=column("score_min", missing=np.nan),
        accepts_no_score=column("accepts_no_score", bool),
        dti_max=column("dti_max", missing=np.inf),
        serves_region=serves_region,
        accepts_employment=accepts_employment,
        serves_channel=serves_channel,
        accepts_first_loan=np.array([b != Borrowers.REPEAT for b in borrowers], dtype=bool),
        accepts_repeat=np.array([b != Borrowers.FIRST_TIME for b in borrowers], dtype=bool),
        product_paused=np.array([r.status == ProductStatus.PAUSED for r in rows], dtype=bool),
        institution_paused=np.array(
            [r.institution_status == InstitutionStatus.PAUSED for r in rows], dtype=bool),
        weight=column("weight"),
        product_cap=column("daily_application_cap", missing=np.inf),
        institution_cap=column("institution_cap", missing=np.inf),
        institution_sla=column("decision_sla_seconds"),
        institution_webhook=column("institution_webhook", bool),
        product_name=[r.name for r in rows],
        product_type=[str(r.type) for r in rows],
        institution_name=[r.institution_name for r in rows],
        term_min=[r.term_min for r in rows],
        term_max=[r.term_max for r in rows],
        term_unit=[str(r.term_unit) for r in rows],
    )


class CatalogueCache:
    """This process's compiled catalogue. Each request reads the version (one primary-key
    read) and recompiles only when another request, worker or host changed it."""

    def __init__(self):
        self._compiled: CompiledCatalogue | None = None
        self._lock = threading.Lock()

    def get(self, session: Session) -> CompiledCatalogue:
        version = catalogue_version.current(session)
        compiled = self._compiled
        if compiled is not None and compiled.version == version:
            return compiled
        with self._lock:
            compiled = self._compiled
            if compiled is None or compiled.version != version:
                compiled = compile_catalogue(session)
                self._compiled = compiled
        return compiled
