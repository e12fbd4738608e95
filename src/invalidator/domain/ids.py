"""Resource identifiers: CloudFront-looking ids from an injectable random source."""

from __future__ import annotations

import secrets
import string
from typing import Protocol

_ALPHABET = string.ascii_uppercase + string.digits
ID_LENGTH = 14


class IdSource(Protocol):
    """Where new ids come from; tests inject a deterministic one."""

    def new_id(self, prefix: str, length: int = ID_LENGTH) -> str:
        """A fresh id: `prefix` followed by uppercase letters and digits, `length` in all."""
        ...


class RandomIds:
    """Cryptographically random ids (13 symbols of 36: ~67 bits)."""

    def new_id(self, prefix: str, length: int = ID_LENGTH) -> str:
        """A fresh random id (one call into the OS for all symbols, not one per symbol)."""
        count = length - len(prefix)
        number = secrets.randbits(6 * count + 64)  # 64 spare bits make the modulo bias nil
        symbols = []
        for _ in range(count):
            number, index = divmod(number, 36)
            symbols.append(_ALPHABET[index])
        return prefix + "".join(symbols)


def new_secret() -> str:
    """A 40-character secret access key, like AWS's."""
    return secrets.token_urlsafe(30)[:40]


def new_access_key_id(ids: IdSource) -> str:
    """An access key id in AWS's look: AKIA + 16 symbols."""
    return ids.new_id("AKIA", 20)
