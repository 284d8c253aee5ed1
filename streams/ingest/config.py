"""The write-key file of `pulse ingest` (TOML, validated by pydantic: strict, frozen, no unknown keys).

    # hex, at least 16 random bytes; `pulse ingest hash-key --new-salt` prints one
    salt = "9f0c..."

    [rate_limit]                     # optional: every source's limit (streams/ingest/ratelimit.py)
    requests_per_second = 200        # average, > 0
    burst = 400                      # requests at once, >= 1

    [[source]]
    name = "web-app"                 # the source's name: in logs, metrics and dead letters
    key_hash = "3a7b..."             # `pulse ingest hash-key --config <this file>` prints it
    rate_limit = { requests_per_second = 50, burst = 100 }   # optional: this source's own

Every error names the file, the key and why, in one line (`scoring.tomlconfig`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.errors import ConfigError
from scoring.tomlconfig import parse_toml, read_text

_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)
HEX64 = re.compile(r"[0-9a-f]{64}")
SALT = re.compile(r"[0-9a-f]{32,128}")


class IngestConfigError(ConfigError):
    """The write-key file is invalid (the message names file, key and why)."""


class RateLimit(BaseModel):
    """A token bucket: `burst` requests at once, `requests_per_second` on average."""

    model_config = _STRICT

    requests_per_second: float = Field(gt=0, le=1_000_000, allow_inf_nan=False)
    burst: int = Field(ge=1, le=1_000_000)


class Source(BaseModel):
    """One named source, the hash of its write key, and its own rate limit (if any)."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=200)
    key_hash: str
    rate_limit: RateLimit | None = None

    @field_validator("key_hash")
    @classmethod
    def _hash(cls, v: str) -> str:
        if not HEX64.fullmatch(v):
            raise ValueError("must be 64 lowercase hex characters, as `pulse ingest hash-key` prints "
                             "(the key itself is never stored)")
        return v


class IngestConfig(BaseModel):
    model_config = _STRICT

    salt: str
    # TOML arrays of tables arrive as lists; strict mode alone would accept only tuples.
    source: Annotated[tuple[Source, ...], Field(strict=False)]
    rate_limit: RateLimit | None = None  # every source's, unless it has its own

    @field_validator("salt")
    @classmethod
    def _salt(cls, v: str) -> str:
        if not SALT.fullmatch(v):
            raise ValueError("must be 32 to 128 lowercase hex characters "
                             "(`pulse ingest hash-key --new-salt`)")
        return v

    @model_validator(mode="after")
    def _unique(self) -> IngestConfig:
        if not self.source:
            raise ValueError("no [[source]]: at least one write key is needed")
        names = [s.name for s in self.source]
        hashes = [s.key_hash for s in self.source]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"source name {name!r} is used twice")
            if hashes[i] in hashes[:i]:
                raise ValueError(f"source {name!r} has the same key_hash as another source")
        return self


def parse_config(text: str, source: str) -> IngestConfig:
    return parse_toml(text, IngestConfig, source=source, error_cls=IngestConfigError)


def load_config(path: str | Path) -> IngestConfig:
    return parse_config(read_text(path, "the ingest write-key file", IngestConfigError), str(path))


def read_salt(path: str | Path) -> str:
    """Only the `salt` of a write-key file (to hash a key for a file that has no source yet)."""
    import tomllib

    text = read_text(path, "the ingest write-key file", IngestConfigError)
    try:
        salt = tomllib.loads(text).get("salt")
    except tomllib.TOMLDecodeError as exc:
        raise IngestConfigError(f"{path}: not valid TOML: {exc}", file=str(path)) from exc
    if not isinstance(salt, str) or not salt:
        raise IngestConfigError(f"{path}: [salt] is required (hex)", file=str(path), key="salt")
    return salt
