"""The institution side's tables: offers, loans, the event log, and webhook deliveries.

Statuses move only through ``feedback/states.py``.
"""

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, enum_column, utcnow
from products.models import TermUnit

# SQLite only auto-increments an INTEGER PRIMARY KEY.
SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class OfferStatus(enum.StrEnum):
    OPEN = "open"              # the borrower may accept it until expires_at
    ACCEPTED = "accepted"
    WITHDRAWN = "withdrawn"    # the borrower accepted another offer
    EXPIRED = "expired"


class LoanStatus(enum.StrEnum):
    CURRENT = "current"
    PAST_DUE = "past_due"
    PAID_OFF = "paid_off"
    CHARGED_OFF = "charged_off"


class EventType(enum.StrEnum):
    ROUTED = "routed"
    DELIVERED = "delivered"
    APPROVED = "approved"
    DECLINED = "declined"
    ROUTING_EXPIRED = "routing_expired"
    ROUTING_WITHDRAWN = "routing_withdrawn"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_WITHDRAWN = "offer_withdrawn"
    OFFER_EXPIRED = "offer_expired"
    NO_MATCH = "no_match"
    APPLICATION_EXPIRED = "application_expired"
    FUNDED = "funded"
    INSTALMENT_DUE = "instalment_due"
    INSTALMENT_PAID = "instalment_paid"
    PAST_DUE = "past_due"
    PAID_OFF = "paid_off"
    CHARGED_OFF = "charged_off"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"        # waiting for its next attempt
    DELIVERED = "delivered"    # the institution answered 2xx
    FAILED = "failed"          # gave up after the last attempt


class Offer(Base):
    """An institution's approval: terms the borrower may take until it expires."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("term > 0", name="term_positive"),
        CheckConstraint("apr >= 0", name="apr_nonnegative"),
        # At most one accepted offer per application, whatever the code does.
        Index("uq_offers_one_accepted", "application_id", unique=True,
              sqlite_where=text("status = 'accepted'"),
              postgresql_where=text("status = 'accepted'")),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    routing_id: Mapped[str] = mapped_column(ForeignKey("routings.id", ondelete="RESTRICT"),
                                            unique=True)
    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="RESTRICT"), index=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)
    apr: Mapped[float] = mapped_column(Float)
    term: Mapped[int] = mapped_column(Integer)
    term_unit: Mapped[TermUnit] = mapped_column(enum_column(TermUnit, length=10))
    status: Mapped[OfferStatus] = mapped_column(enum_column(OfferStatus))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    learned_in: Mapped[int | None] = mapped_column(BigInteger)  # take-up model version


class Loan(Base):
    """A funded offer, and where its repayment stands."""

    __tablename__ = "loans"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("days_past_due >= 0", name="days_past_due_nonnegative"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id", ondelete="RESTRICT"),
                                          unique=True)
    application_id: Mapped[str] = mapped_column(
        ForeignKey("applications.id", ondelete="RESTRICT"), unique=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)
    apr: Mapped[float] = mapped_column(Float)
    term: Mapped[int] = mapped_column(Integer)
    term_unit: Mapped[TermUnit] = mapped_column(enum_column(TermUnit, length=10))
    funded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[LoanStatus] = mapped_column(enum_column(LoanStatus))
    days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    max_days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    request_hash: Mapped[str] = mapped_column(String(64))  # a retry of the funding call
    learned_in: Mapped[int | None] = mapped_column(BigInteger)  # repayment model version
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Event(Base):
    """The append-only log of every transition (the database refuses UPDATE and DELETE).
    Learning and ops metrics read it; ``feedback.invariants`` checks it against the state
    tables."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_application", "application_id", "id"),
        Index("ix_events_loan", "loan_id", "id"),
        Index("ix_events_type", "type", "id"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True)
    type: Mapped[EventType] = mapped_column(enum_column(EventType, length=30))
    at: Mapped[datetime] = mapped_column(UTCDateTime)   # when it happened
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    application_id: Mapped[str | None] = mapped_column(String(26))
    routing_id: Mapped[str | None] = mapped_column(String(26))
    offer_id: Mapped[str | None] = mapped_column(String(26))
    loan_id: Mapped[str | None] = mapped_column(String(26))
    institution_id: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(Integer)
    wave: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict | None] = mapped_column(JSON)


class WebhookDelivery(Base):
    """One notification to one institution, retried with exponential backoff."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_institution", "institution_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT"))
    event_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(26))
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[dict | None] = mapped_column(JSON)  # the body last sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="RESTRICT"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[float] = mapped_column(Float)
