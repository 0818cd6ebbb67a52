"""Institution use cases; each owns its transaction and writes its audit entry."""

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, edits
from core.db import page, transaction
from core.errors import Conflict, Forbidden, NotFound
from core.principal import Principal, Role
from lenders.models import Institution
from lenders.schemas import InstitutionOut

NEEDS_REASON = {"status", "daily_application_cap", "daily_funding_budget"}
_snapshot_schema = InstitutionOut(exclude=("created_at", "updated_at"))


def snapshot(institution: Institution) -> dict:
    """What the audit log keeps: the public fields, and of the webhook secret only a
    fingerprint, so that a rotation shows without the secret being written down."""
    secret = institution.webhook_secret
    fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:12] if secret else None
    return _snapshot_schema.dump(institution) | {"webhook_secret_fingerprint": fingerprint}


def get_visible(session: Session, who: Principal, institution_id: int) -> Institution:
    """The institution if it exists and ``who`` may see it; 404 alike otherwise."""
    institution = session.get(Institution, institution_id)
    if institution is None or not who.may_see_institution(institution_id):
        raise NotFound(f"no institution {institution_id}")
    return institution


def list_visible(session: Session, who: Principal, *, status=None, kind=None, region=None,
                 offset: int, limit: int) -> tuple[list[Institution], int]:
    query = select(Institution).order_by(Institution.id)
    if who.role == Role.INSTITUTION:
        query = query.where(Institution.id == who.institution_id)
    if status is not None:
        query = query.where(Institution.status == status)
    if kind is not None:
        query = query.where(Institution.kind == kind)
    if region is None:
        return page(session, query, offset=offset, limit=limit)
    # Licensed regions are a small JSON list; filter them in Python, portable on both DBs.
    matching = [i for i in session.scalars(query) if region in i.licensed_regions]
    return matching[offset:offset + limit], len(matching)


def create(session: Session, who: Principal, data: dict) -> Institution:
    data = dict(data)
    reason = data.pop("reason", None)
    with transaction(session):
        _ensure_name_free(session, data["name"])
        institution = Institution(**data)
        session.add(institution)
        edits.flush(session, "institution")
        audit.record(session, who, "create", "institution", institution.id,
                     after=snapshot(institution), reason=reason)
    return institution


def update(session: Session, who: Principal, institution_id: int, changes: dict,
           expected_version: int | None) -> Institution:
    if who.role != Role.OPS:
        raise Forbidden("only ops may change an institution")
    changes = dict(changes)
    reason = changes.pop("reason", None)
    with transaction(session):
        institution = get_visible(session, who, institution_id)
        edits.check_version(institution.version, expected_version)
        edits.check_request(changes, reason, NEEDS_REASON)
        if "name" in changes and changes["name"] != institution.name:
            _ensure_name_free(session, changes["name"])
        edits.apply_and_audit(session, who, institution, changes, what="institution",
                              snapshot=snapshot, reason=reason)
    return institution


def _ensure_name_free(session: Session, name: str) -> None:
    if session.scalar(select(Institution.id).where(Institution.name == name)) is not None:
        raise Conflict(f"an institution named {name!r} already exists")
