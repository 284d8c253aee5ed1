"""Strict TOML configuration files: read, parse, validate with pydantic, and fail in one line.

Every error names the file, the key and why (`<file>: [score.half_life] unknown key`), as a
`ConfigError` of the caller's class (`ModelError` for the scoring model). Used by the scoring
model and the notifier config, so both reject bad files the same way.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from scoring.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def validation_error(err: ValidationError, source: str, error_cls: type[ConfigError]) -> ConfigError:
    """The first problem of a pydantic error as one line naming the key (and how many more)."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
    return error_cls(f"{source}: [{key}] {msg}{more}", file=source, key=key)


def parse_toml(text: str, schema: type[M], *, source: str, error_cls: type[ConfigError] = ConfigError) -> M:
    """Parse TOML text and validate it as `schema`; `source` names the file in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error_cls(f"{source}: not valid TOML: {exc}", file=source) from exc
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, error_cls) from None


def read_text(path: str | Path, what: str, error_cls: type[ConfigError] = ConfigError) -> str:
    """The UTF-8 text of a config file, or a one-line error (`<file>: cannot read <what>: ...`)."""
    p = Path(path)
    try:
        return p.read_text("utf-8")
    except OSError as exc:
        raise error_cls(f"{p}: cannot read {what}: {exc.strerror}", file=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise error_cls(f"{p}: not UTF-8 text", file=str(p)) from exc
