"""Write keys: where a request carries one, how it is hashed, and the constant-time lookup.

A key arrives as the user of HTTP Basic auth (`Authorization: Basic base64("<key>:")`, what the
official clients send) or as `writeKey` in the JSON body. The file stores only
`HMAC-SHA256(salt, key)` in hex; the salt is per file. Write keys are long random tokens, not
passwords people choose, so a slow password hash (bcrypt, argon2) buys nothing against guessing
and would cost milliseconds of CPU on every request; the keyed hash means a leaked file cannot
be matched against other files or precomputed tables, and without the salt the hashes say
nothing. Every stored hash is compared with `hmac.compare_digest`, all of them on every lookup,
so the time taken does not depend on which source (or how much of a hash) matched.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from hashlib import sha256

from streams.ingest.config import IngestConfig


def hash_key(salt: str, key: str) -> str:
    """The hex HMAC-SHA256 of `key` under the file's hex `salt` (what `key_hash` holds)."""
    return hmac.new(bytes.fromhex(salt), key.encode("utf-8"), sha256).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


def new_key() -> str:
    return secrets.token_urlsafe(24)


class BadCredentials(ValueError):
    """The Authorization header is present but not `Basic <base64 key:password>`."""


def basic_user(header: str) -> str:
    """The user of a `Basic` Authorization header (the write key); the password is ignored."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise BadCredentials("Authorization must be HTTP Basic with the write key as the user")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise BadCredentials("Authorization: Basic credentials are not base64 of UTF-8 text") from None
    user, _, _password = decoded.partition(":")
    if not user:
        raise BadCredentials("Authorization: Basic credentials carry no write key")
    return user


class KeyRing:
    """Write-key hash -> source name, from the config file."""

    def __init__(self, config: IngestConfig) -> None:
        self.salt = config.salt
        self._entries = [(bytes.fromhex(s.key_hash), s.name) for s in config.source]

    def source_of(self, key: str) -> str | None:
        """The source whose key this is, or None. Compares against every entry."""
        digest = bytes.fromhex(hash_key(self.salt, key))
        found: str | None = None
        for stored, name in self._entries:
            if hmac.compare_digest(digest, stored):
                found = name
        return found

    def __len__(self) -> int:
        return len(self._entries)
