"""Sealing access tokens kept where others can read them (Redis): AES-256-GCM.

The key is derived with HKDF-SHA256 from the OAuth client secret and the
refresh token, which `RefreshTokenAuth` holds and never hands out: what a
store keeps is useless to anyone who lacks them. Each value gets a random
96-bit nonce, and the name it is kept under as associated data, so a sealed
value moved to another name no longer opens. The key never appears in a repr.

Needs ``cryptography`` (the ``redis`` extra).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Sealer"]

# Fixed, and naming the purpose: a key derived here is good for nothing else.
_SALT = b"zoho-locking token store"
_INFO = b"zoho-locking: AES-256-GCM key sealing shared access tokens, v1"
_VERSION = b"\x01"
_NONCE = 12


class Sealer:
    """Seal and open values with one AES-256-GCM key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a Sealer needs a 256-bit key")
        self._aead = AESGCM(key)

    @classmethod
    def derive(cls, client_secret: str, refresh_token: str) -> Sealer:
        """The sealer of these credentials: HKDF-SHA256 over the client secret and refresh token."""
        hkdf = HKDF(algorithm=SHA256(), length=32, salt=_SALT, info=_INFO)
        return cls(hkdf.derive(b"\0".join((client_secret.encode(), refresh_token.encode()))))

    def __repr__(self) -> str:
        return "Sealer(AES-256-GCM, key='***')"

    def __reduce__(self) -> str | tuple[object, ...]:
        # Neither pickled nor copied: the key must not travel.
        raise TypeError("a Sealer cannot be pickled")

    def seal(self, plaintext: bytes, where: str) -> bytes:
        """*plaintext* sealed for the name *where*: version, random nonce, ciphertext and tag."""
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, where.encode())

    def open(self, sealed: bytes, where: str) -> bytes | None:
        """The plaintext of *sealed*, kept under *where*; ``None`` if it does not open."""
        if len(sealed) <= 1 + _NONCE or not sealed.startswith(_VERSION):
            return None
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        try:
            return self._aead.decrypt(nonce, body, where.encode())
        except InvalidTag:
            return None
