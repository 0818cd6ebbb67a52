"""The append-only audit log: who changed what, when, from what to what, and why.

The database refuses UPDATE and DELETE on ``audit_entries`` (triggers in the migration),
so the log stays append-only even against code that forgets.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, UTCDateTime, page, utcnow
from core.principal import Principal

JSONType = JSON().with_variant(JSONB(), "postgresql")


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(30))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict | None] = mapped_column(JSONType)
    after: Mapped[dict | None] = mapped_column(JSONType)
    reason: Mapped[str | None] = mapped_column(Text)


def record(session: Session, principal: Principal, action: str, object_type: str,
           object_id: Any, *, before: dict | None = None, after: dict | None = None,
           reason: str | None = None) -> AuditEntry:
    entry = AuditEntry(
        actor=principal.actor,
        actor_role=principal.role.value if principal.role else None,
        action=action, object_type=object_type, object_id=str(object_id),
        before=before, after=after, reason=reason,
    )
    session.add(entry)
    return entry


def changed_fields(before: dict, after: dict) -> tuple[dict, dict]:
    """The before and after of only the fields that differ, for an update entry."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def search(session: Session, *, object_type: str | None = None, object_id: str | None = None,
           action: str | None = None, actor: str | None = None, since: datetime | None = None,
           until: datetime | None = None, offset: int = 0,
           limit: int = 50) -> tuple[list[AuditEntry], int]:
    """Entries newest first, and how many match in all."""
    query = select(AuditEntry)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    return page(session, query.order_by(AuditEntry.id.desc()), offset=offset, limit=limit)
