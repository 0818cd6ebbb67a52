"""How a change to a catalogue object is applied: the rules shared by every PATCH."""

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core import audit
from core.errors import Conflict, InvalidInput, StaleVersion
from core.principal import Principal


def check_version(current: int, expected: int | None) -> None:
    """Refuse a change made against a version other than the stored one (If-Match)."""
    if expected is not None and expected != current:
        raise StaleVersion(f"version {expected} is stale; the current version is {current}")


def check_request(changes: dict, reason: str | None, needs_reason: set[str]) -> None:
    if not changes:
        raise InvalidInput({"_schema": ["give at least one field to change"]})
    sensitive = sorted(needs_reason & changes.keys())
    if sensitive and not reason:
        raise InvalidInput({"reason": [f"required when changing {', '.join(sensitive)}"]})


def flush(session: Session, what: str) -> None:
    """Flush, turning a lost concurrent update or a duplicate into a 409."""
    try:
        session.flush()
    except StaleDataError:
        raise StaleVersion(
            f"the {what} was changed concurrently; read it again and retry") from None
    except IntegrityError:
        raise Conflict(f"a {what} with these values already exists") from None


def apply_and_audit(session: Session, who: Principal, obj, changes: dict, *, what: str,
                    snapshot: Callable[[object], dict], reason: str | None) -> None:
    """Set only the values that differ (so the version moves only on a real change) and
    record the before/after of what changed."""
    before = snapshot(obj)
    for field, value in changes.items():
        if getattr(obj, field) != value:
            setattr(obj, field, value)
    flush(session, what)
    after = snapshot(obj)
    if before != after:
        old, new = audit.changed_fields(before, after)
        audit.record(session, who, "update", what, obj.id, before=old, after=new,
                     reason=reason)
