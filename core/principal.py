"""Who is calling: roles, and the principal a request or command acts as."""

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    OPS = "ops"
    BORROWER_APP = "borrower_app"
    INSTITUTION = "institution"


@dataclass(frozen=True)
class Principal:
    """The key's id and role, and for an institution key which institution it speaks for."""

    key_id: int | None
    role: Role | None
    institution_id: int | None = None
    label: str = ""

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}" if self.key_id is not None else self.label

    def may_see_institution(self, institution_id: int) -> bool:
        return self.role != Role.INSTITUTION or self.institution_id == institution_id


def command_line(label: str) -> Principal:
    """The actor for changes made from the command line."""
    return Principal(key_id=None, role=None, label=f"cli:{label}")
