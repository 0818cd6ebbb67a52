"""API keys: each has a role and is shown once, stored only as a SHA-256 hash.

A key reads ``lm_<prefix>_<secret>``. The prefix is stored in clear so the row can be
found by index; the whole key is compared by hash in constant time. The secret holds
256 random bits, so an unsalted hash is as strong as the key itself.
"""

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import audit
from core.db import Base, UTCDateTime, enum_column, page, transaction, utcnow
from core.errors import InvalidInput, NotFound
from core.principal import Principal, Role


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(
            "(role = 'institution') = (institution_id IS NOT NULL)",
            name="institution_keys_bound",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT"), index=True
    )
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


PREFIX = re.compile(r"[0-9a-f]{12}")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(session: Session, who: Principal, role: Role, institution_id: int | None = None,
           label: str = "") -> tuple[ApiKey, str]:
    """Create a key; returns its row and the key itself, which is never stored."""
    if role == Role.INSTITUTION and institution_id is None:
        raise InvalidInput({"institution_id": ["an institution key needs an institution"]})
    if role != Role.INSTITUTION and institution_id is not None:
        raise InvalidInput({"institution_id": [f"a {role.value} key is not bound to one"]})
    with transaction(session):
        if institution_id is not None:
            from lenders.models import Institution

            if session.get(Institution, institution_id) is None:
                raise InvalidInput({"institution_id": ["no such institution"]})
        prefix = secrets.token_hex(6)
        key = f"lm_{prefix}_{secrets.token_urlsafe(32)}"
        row = ApiKey(prefix=prefix, key_hash=_hash(key), role=role,
                     institution_id=institution_id, label=label)
        session.add(row)
        session.flush()
        audit.record(session, who, "create", "api_key", row.id, after=_describe(row))
    return row, key


def revoke(session: Session, who: Principal, key_id: int) -> ApiKey:
    """Revoke a key at once; revoking a revoked key changes nothing."""
    with transaction(session):
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"no API key {key_id}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(session, who, "revoke", "api_key", row.id,
                         before={"revoked_at": None},
                         after={"revoked_at": row.revoked_at.isoformat()})
    return row


# Every request authenticates: a Core statement built once, not an ORM load.
_KEYS = ApiKey.__table__
_BY_PREFIX = select(_KEYS.c.id, _KEYS.c.key_hash, _KEYS.c.role, _KEYS.c.institution_id,
                    _KEYS.c.label, _KEYS.c.revoked_at).where(_KEYS.c.prefix == bindparam("p"))


def authenticate(session: Session, key: str) -> Principal | None:
    parts = key.split("_", 2)
    row = None
    if len(parts) == 3 and parts[0] == "lm" and PREFIX.fullmatch(parts[1]):
        row = session.connection().execute(_BY_PREFIX, {"p": parts[1]}).first()
    # Compare even when no row matched, so a wrong prefix costs what a wrong secret does.
    expected = row.key_hash if row is not None else "0" * 64
    if not hmac.compare_digest(_hash(key), expected) or row is None or row.revoked_at:
        return None
    return Principal(row.id, row.role, row.institution_id, row.label)


def search(session: Session, *, role: Role | None = None, institution_id: int | None = None,
           revoked: bool | None = None, offset: int, limit: int) -> tuple[list[ApiKey], int]:
    query = select(ApiKey).order_by(ApiKey.id)
    if role is not None:
        query = query.where(ApiKey.role == role)
    if institution_id is not None:
        query = query.where(ApiKey.institution_id == institution_id)
    if revoked is not None:
        query = query.where(ApiKey.revoked_at.is_not(None) if revoked
                            else ApiKey.revoked_at.is_(None))
    return page(session, query, offset=offset, limit=limit)


def _describe(row: ApiKey) -> dict:
    return {"role": row.role.value, "institution_id": row.institution_id, "label": row.label,
            "prefix": row.prefix}
