"""The state machines of applications, routings, offers and loans, in one place.

Every status change goes through ``move``; a move the table does not allow is a 409
whose ``errors.conflict`` names the state the object is in (``routing_expired``,
``offer_withdrawn``, ``loan_paid_off``, …), and the service's transaction rolls back, so
nothing changes. The README draws these tables.
"""

from core.errors import Conflict
from feedback.models import LoanStatus, OfferStatus
from matching.models import ApplicationStatus, RoutingStatus

A, R, OS, L = ApplicationStatus, RoutingStatus, OfferStatus, LoanStatus

TRANSITIONS: dict[str, dict] = {
    "application": {
        A.ROUTED: {A.ROUTED, A.OFFERED, A.NO_MATCH, A.EXPIRED},  # routed → routed: next wave
        A.OFFERED: {A.OFFERED, A.ROUTED, A.ACCEPTED, A.EXPIRED},
        A.ACCEPTED: {A.FUNDED},
        A.FUNDED: set(),
        A.NO_MATCH: set(),
        A.EXPIRED: set(),
    },
    "routing": {
        R.PENDING: {R.APPROVED, R.DECLINED, R.EXPIRED, R.WITHDRAWN},
        R.APPROVED: set(),
        R.DECLINED: set(),
        R.EXPIRED: set(),
        R.WITHDRAWN: set(),
    },
    "offer": {
        OS.OPEN: {OS.ACCEPTED, OS.WITHDRAWN, OS.EXPIRED},
        OS.ACCEPTED: set(),
        OS.WITHDRAWN: set(),
        OS.EXPIRED: set(),
    },
    "loan": {
        L.CURRENT: {L.CURRENT, L.PAST_DUE, L.PAID_OFF, L.CHARGED_OFF},
        L.PAST_DUE: {L.PAST_DUE, L.CURRENT, L.PAID_OFF, L.CHARGED_OFF},
        L.PAID_OFF: set(),
        L.CHARGED_OFF: set(),
    },
}


class InvalidTransition(Conflict):
    """The object's state does not allow this; ``errors.conflict`` names that state."""

    def __init__(self, kind: str, current, wanted, message: str | None = None):
        self.kind, self.current, self.wanted = kind, current, wanted
        super().__init__(message or f"the {kind} is {current}; it cannot become {wanted}",
                         errors={"conflict": state_code(kind, current)})


def state_code(kind: str, status) -> str:
    return f"{kind}_{status}"


def allowed(kind: str, current, wanted) -> bool:
    return wanted in TRANSITIONS[kind][current]


def check(kind: str, current, wanted, message: str | None = None) -> None:
    if not allowed(kind, current, wanted):
        raise InvalidTransition(kind, current, wanted, message)


def move(kind: str, row, wanted, message: str | None = None) -> None:
    """Set ``row.status`` to ``wanted`` if the machine allows it, else raise 409."""
    check(kind, row.status, wanted, message)
    row.status = wanted
