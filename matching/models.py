"""Applications, the routings chosen for them, the trace of each decision, and the daily
capacity counters that routing reserves from."""

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, CompressedJSON, UTCDateTime, enum_column, utcnow
from products.models import Channel, TermUnit

DOCUMENT = JSON().with_variant(postgresql.JSONB(), "postgresql")


class ApplicationStatus(enum.StrEnum):
    """Drawn in the README; the allowed moves are in ``feedback/states.py``."""

    ROUTED = "routed"          # a wave is out, waiting for the institutions' decisions
    OFFERED = "offered"        # at least one open offer for the borrower to take
    ACCEPTED = "accepted"      # the borrower took one offer; waiting for funding
    FUNDED = "funded"          # the loan was paid out; repayments are on the loan
    NO_MATCH = "no_match"      # no institution approved, after every wave it could have
    EXPIRED = "expired"        # approved, but every offer lapsed before it was taken


# An applicant with one of these inside the cool-down gets it back instead of new inquiries.
OPEN_STATUSES = (ApplicationStatus.ROUTED, ApplicationStatus.OFFERED,
                 ApplicationStatus.ACCEPTED)


class Purpose(enum.StrEnum):
    CONSUMPTION = "consumption"
    EDUCATION = "education"
    MEDICAL = "medical"
    TRAVEL = "travel"
    HOME = "home"
    BUSINESS = "business"
    DEBT_CONSOLIDATION = "debt_consolidation"
    OTHER = "other"


class RoutingStatus(enum.StrEnum):
    PENDING = "pending"        # sent; the institution has until decide_by
    APPROVED = "approved"      # it made an offer
    DECLINED = "declined"
    EXPIRED = "expired"        # no decision within the institution's SLA
    WITHDRAWN = "withdrawn"    # the borrower took another offer before it decided


CLOSED_ROUTING_STATUSES = (RoutingStatus.DECLINED, RoutingStatus.EXPIRED)


class UsageScope(enum.StrEnum):
    PRODUCT = "product"
    INSTITUTION = "institution"


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key"),
        Index("ix_applications_applicant", "api_key_id", "external_id", "created_at"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("term > 0", name="term_positive"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="RESTRICT"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(100))
    applicant: Mapped[dict] = mapped_column(DOCUMENT)
    amount: Mapped[int] = mapped_column(BigInteger)
    term: Mapped[int] = mapped_column(Integer)
    term_unit: Mapped[TermUnit] = mapped_column(enum_column(TermUnit, length=10))
    purpose: Mapped[Purpose] = mapped_column(enum_column(Purpose))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    consent_version: Mapped[str] = mapped_column(String(40))
    consent_given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[ApplicationStatus] = mapped_column(enum_column(ApplicationStatus))
    wave: Mapped[int] = mapped_column(Integer, default=1)
    # Why a finished application ended as it did: no_eligible_product, waves_exhausted,
    # offers_expired.
    end_reason: Mapped[str | None] = mapped_column(String(40))
    catalogue_version: Mapped[int] = mapped_column(BigInteger)
    response: Mapped[dict] = mapped_column(CompressedJSON)  # replayed, never queried
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Routing(Base):
    """One product an application was sent to, with the capacity it reserved."""

    __tablename__ = "routings"
    __table_args__ = (
        UniqueConstraint("application_id", "product_id"),
        Index("ix_routings_inbox", "institution_id", "status", "id"),
        Index("ix_routings_due", "status", "decide_by"),
        Index("ix_routings_to_learn", "status", postgresql_where=text("learned_in IS NULL"),
              sqlite_where=text("learned_in IS NULL")),
        CheckConstraint("approval_probability >= 0 AND approval_probability <= 1",
                        name="probability_range"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    # Found by application through the unique (application_id, product_id) index.
    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="RESTRICT"))
    wave: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT"))
    status: Mapped[RoutingStatus] = mapped_column(enum_column(RoutingStatus))
    approval_probability: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    capacity_day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decide_by: Mapped[datetime] = mapped_column(UTCDateTime)  # created_at + the SLA
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The decision as posted (hash of its canonical JSON), so a retry is recognised.
    decision_hash: Mapped[str | None] = mapped_column(String(64))
    decline_reasons: Mapped[list[str] | None] = mapped_column(JSON)
    # For learning and offline evaluation: the features the approval model saw, the
    # probability sampled when the wave explored (null: it used the mean), the chance this
    # policy had of routing this product, and the model version that learned from the
    # decision (null: not yet, or not a label).
    features: Mapped[list[float] | None] = mapped_column(JSON)
    sampled_probability: Mapped[float | None] = mapped_column(Float)
    propensity: Mapped[float | None] = mapped_column(Float)
    learned_in: Mapped[int | None] = mapped_column(BigInteger)


class RoutingTrace(Base):
    """The whole decision of one routing wave, as the engine saw it."""

    __tablename__ = "routing_traces"

    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="RESTRICT"), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer, primary_key=True)
    catalogue_version: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[dict] = mapped_column(CompressedJSON)
    # What the borrower app is shown of this wave, readable without the body: the routed
    # products, and the products not routed counted by reason.
    routed: Mapped[list] = mapped_column(JSON)
    not_routed: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyUsage(Base):
    """Applications routed to one product or institution on one local day (caps reset at
    local midnight in ``CAP_TIMEZONE`` simply because a new day has new rows)."""

    __tablename__ = "daily_usage"
    __table_args__ = (CheckConstraint("applications >= 0", name="applications_nonnegative"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    scope: Mapped[UsageScope] = mapped_column(enum_column(UsageScope), primary_key=True)
    object_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    applications: Mapped[int] = mapped_column(Integer, default=0)
