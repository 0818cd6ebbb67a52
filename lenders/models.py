import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, enum_column, utcnow


class InstitutionKind(enum.StrEnum):
    BANK = "bank"
    CONSUMER_FINANCE = "consumer_finance"
    MICROLENDER = "microlender"
    TRUST = "trust"
    OTHER = "other"


class InstitutionStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class Institution(Base):
    __tablename__ = "institutions"
    __table_args__ = (
        CheckConstraint("decision_sla_seconds > 0", name="sla_positive"),
        CheckConstraint("daily_application_cap >= 0", name="application_cap_nonnegative"),
        CheckConstraint("daily_funding_budget >= 0", name="funding_budget_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[InstitutionKind] = mapped_column(enum_column(InstitutionKind))
    status: Mapped[InstitutionStatus] = mapped_column(
        enum_column(InstitutionStatus), default=InstitutionStatus.ACTIVE
    )
    licensed_regions: Mapped[list[str]] = mapped_column(JSON)
    decision_sla_seconds: Mapped[int] = mapped_column(Integer, default=300)
    daily_application_cap: Mapped[int | None] = mapped_column(Integer)
    daily_funding_budget: Mapped[int | None] = mapped_column(BigInteger)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret: Mapped[str | None] = mapped_column(String(256))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}
