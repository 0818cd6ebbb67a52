"""Public ids for high-volume objects (applications, routings): 26 characters, sortable
by creation time to the millisecond, unguessable, made without asking the database."""

import secrets
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base 32, lower case


def new_id(now_ms: int | None = None) -> str:
    """48 bits of Unix milliseconds, then 80 random bits (a ULID)."""
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))
