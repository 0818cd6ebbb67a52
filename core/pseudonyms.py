"""Per-institution pseudonymous applicant ids.

An institution sees the same ``applicant_ref`` each time the same person (one borrower
app's ``external_id``) is routed to it, so it can recognise a returning applicant; two
institutions see unrelated refs, and neither can recover the platform's id. The ref is
an HMAC under a random secret made once per deployment and kept in the database, so
every worker on every host computes the same ref.
"""

import hashlib
import hmac
import secrets

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, insert_for

SECRET_NAME = "applicant_pseudonyms"


class InstanceSecret(Base):
    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


def _secret(session: Session) -> bytes:
    value = session.scalar(select(InstanceSecret.value)
                           .where(InstanceSecret.name == SECRET_NAME))
    if value is None:
        # The first to ask makes it; concurrent askers all read the one that won.
        session.execute(insert_for(session)(InstanceSecret)
                        .values(name=SECRET_NAME, value=secrets.token_hex(32))
                        .on_conflict_do_nothing(index_elements=["name"]))
        value = session.scalar(select(InstanceSecret.value)
                               .where(InstanceSecret.name == SECRET_NAME))
    return bytes.fromhex(value)


class Pseudonyms:
    """Computes refs for one session's work, reading the secret once."""

    def __init__(self, session: Session):
        self._session = session
        self._key: bytes | None = None

    def applicant_ref(self, institution_id: int, api_key_id: int, external_id: str) -> str:
        if self._key is None:
            self._key = _secret(self._session)
        message = f"{institution_id}\x1f{api_key_id}\x1f{external_id}".encode()
        return "ap_" + hmac.new(self._key, message, hashlib.sha256).hexdigest()[:24]
