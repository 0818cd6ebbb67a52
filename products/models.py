import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, enum_column, utcnow
from lenders.models import Institution


class ProductType(enum.StrEnum):
    CASH_LOAN = "cash_loan"
    INSTALMENT = "instalment"
    REVOLVING_LINE = "revolving_line"
    GOODS_INSTALMENT = "goods_instalment"


class TermUnit(enum.StrEnum):
    DAY = "day"
    MONTH = "month"


class ProductStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    RETIRED = "retired"


class Borrowers(enum.StrEnum):
    FIRST_TIME = "first_time"
    REPEAT = "repeat"
    ANY = "any"


class Employment(enum.StrEnum):
    SALARIED = "salaried"
    SELF_EMPLOYED = "self_employed"
    GIG = "gig"
    STUDENT = "student"
    RETIRED = "retired"
    UNEMPLOYED = "unemployed"


class Channel(enum.StrEnum):
    APP = "app"
    ECOMMERCE = "ecommerce"
    TRAVEL = "travel"
    EDUCATION = "education"
    RETAIL = "retail"
    SOCIAL = "social"
    PARTNER = "partner"


RULE_FIELDS = ("age_min", "age_max", "income_min", "score_min", "accepts_no_score", "dti_max",
               "regions", "regions_excluded", "employment", "channels", "borrowers")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("institution_id", "name"),
        CheckConstraint("amount_min > 0 AND amount_min <= amount_max", name="amount_range"),
        CheckConstraint("term_min > 0 AND term_min <= term_max", name="term_range"),
        CheckConstraint("apr_min >= 0 AND apr_min <= apr_max", name="apr_range"),
        CheckConstraint("age_min <= age_max", name="age_range"),
        CheckConstraint("weight >= 0", name="weight_nonnegative"),
        CheckConstraint("daily_application_cap >= 0", name="application_cap_nonnegative"),
        CheckConstraint("daily_funding_cap >= 0", name="funding_cap_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[ProductType] = mapped_column(enum_column(ProductType))
    amount_min: Mapped[int] = mapped_column(BigInteger)
    amount_max: Mapped[int] = mapped_column(BigInteger)
    term_min: Mapped[int] = mapped_column(Integer)
    term_max: Mapped[int] = mapped_column(Integer)
    term_unit: Mapped[TermUnit] = mapped_column(enum_column(TermUnit, length=10))
    apr_min: Mapped[float] = mapped_column(Float)
    apr_max: Mapped[float] = mapped_column(Float)

    age_min: Mapped[int] = mapped_column(Integer)
    age_max: Mapped[int] = mapped_column(Integer)
    income_min: Mapped[int] = mapped_column(Integer)
    score_min: Mapped[int | None] = mapped_column(Integer)
    accepts_no_score: Mapped[bool] = mapped_column(Boolean)
    dti_max: Mapped[float | None] = mapped_column(Float)
    regions: Mapped[list[str]] = mapped_column(JSON)
    regions_excluded: Mapped[list[str]] = mapped_column(JSON)
    employment: Mapped[list[str]] = mapped_column(JSON)
    channels: Mapped[list[str]] = mapped_column(JSON)
    borrowers: Mapped[Borrowers] = mapped_column(enum_column(Borrowers))

    daily_application_cap: Mapped[int | None] = mapped_column(Integer)
    daily_funding_cap: Mapped[int | None] = mapped_column(BigInteger)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    status: Mapped[ProductStatus] = mapped_column(
        enum_column(ProductStatus), default=ProductStatus.ACTIVE, index=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    institution: Mapped[Institution] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}

    @property
    def rules(self) -> dict:
        return {name: getattr(self, name) for name in RULE_FIELDS}
