"""What learning keeps: model versions, product weight versions, capacity price solves
and daily funnel snapshots. Each is written by a scheduler job and read by routing (the
latest version) or by ops (the history)."""

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, CompressedJSON, UTCDateTime, enum_column, utcnow
from feedback.models import SERIAL


class ModelKind(enum.StrEnum):
    APPROVAL = "approval"
    TAKEUP = "takeup"
    REPAYMENT = "repayment"


class LearnedModel(Base):
    """One version of one model: its whole posterior, and what the update learned from."""

    __tablename__ = "learned_models"
    __table_args__ = (Index("ix_learned_models_kind", "kind", "id"),)

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True)
    kind: Mapped[ModelKind] = mapped_column(enum_column(ModelKind))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    batch_rows: Mapped[int] = mapped_column(Integer)      # labels new in this version
    total_rows: Mapped[int] = mapped_column(Integer)      # labels behind it, in all
    params: Mapped[dict] = mapped_column(CompressedJSON)
    summary: Mapped[dict] = mapped_column(JSON)


class ProductWeightVersion(Base):
    """A product's learned weight multiplier, every version kept. The effective routing
    weight is the product's ops weight times the current version's multiplier."""

    __tablename__ = "product_weight_versions"
    __table_args__ = (
        UniqueConstraint("product_id", "version"),
        Index("uq_product_weight_versions_current", "product_id", unique=True,
              postgresql_where=text("is_current"), sqlite_where=text("is_current")),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    version: Mapped[int] = mapped_column(Integer)
    is_current: Mapped[bool] = mapped_column(Boolean)
    ops_weight: Mapped[float] = mapped_column(Float)
    locked: Mapped[bool] = mapped_column(Boolean)
    approval_ratio: Mapped[float] = mapped_column(Float)
    takeup_ratio: Mapped[float] = mapped_column(Float)
    repayment_ratio: Mapped[float] = mapped_column(Float)
    multiplier: Mapped[float] = mapped_column(Float)
    effective_weight: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict] = mapped_column(JSON)   # observed and predicted counts
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CapacityPriceSolve(Base):
    """Shadow prices of the remaining daily capacity, from one solve."""

    __tablename__ = "capacity_price_solves"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    solved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # {"products"|"institutions": {id: {"price", "cap", "used", "planned_rest"}}}
    prices: Mapped[dict] = mapped_column(CompressedJSON)
    summary: Mapped[dict] = mapped_column(JSON)


class FunnelSnapshot(Base):
    """One local day's funnel, per institution and in all (``institution_id`` 0)."""

    __tablename__ = "funnel_snapshots"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    institution_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    counts: Mapped[dict] = mapped_column(JSON)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
