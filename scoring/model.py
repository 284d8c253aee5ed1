"""The scoring model: a TOML file validated by pydantic (strict, frozen).

`load_model(path)` returns a `Model` or raises `ModelError` naming the file, the
key and why. An unknown key, a wrong type or inconsistent bands are rejected.
`load_model(None)` loads the default model shipped in this package.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scoring.errors import ModelError

DEFAULT_MODEL_NAME = "default_model.toml"
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class ScoreConfig(BaseModel):
    model_config = _STRICT

    mode: Literal["window", "decay"] = "window"
    window_days: float = Field(default=30, gt=0)
    bucket_seconds: int = Field(default=86400, gt=0)
    half_life_days: float = Field(default=14, gt=0)
    hysteresis: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _whole_buckets(self) -> ScoreConfig:
        window_seconds = self.window_days * 86400
        if window_seconds != int(window_seconds) or int(window_seconds) % self.bucket_seconds:
            raise ValueError(
                f"window_days * 86400 ({window_seconds:g} s) must be a whole multiple of "
                f"bucket_seconds ({self.bucket_seconds})"
            )
        return self

    @property
    def window_buckets(self) -> int:
        """W: the number of buckets in the window."""
        return int(self.window_days * 86400) // self.bucket_seconds

    @property
    def window_us(self) -> int:
        return int(self.window_days * 86400) * 1_000_000

    @property
    def bucket_us(self) -> int:
        return self.bucket_seconds * 1_000_000

    @property
    def half_life_us(self) -> float:
        return self.half_life_days * 86400 * 1_000_000


class BandsConfig(BaseModel):
    model_config = _STRICT

    at_risk_below: float = 0.0
    red_max: float = 40.0
    yellow_max: float = 70.0
    green_max: float = 100.0

    @model_validator(mode="after")
    def _ordered(self) -> BandsConfig:
        if not (self.at_risk_below <= self.red_max < self.yellow_max < self.green_max):
            raise ValueError(
                "bands must satisfy at_risk_below <= red_max < yellow_max < green_max, got "
                f"{self.at_risk_below:g}, {self.red_max:g}, {self.yellow_max:g}, {self.green_max:g}"
            )
        return self


class Model(BaseModel):
    model_config = _STRICT

    score: ScoreConfig = ScoreConfig()
    bands: BandsConfig = BandsConfig()
    weights: dict[str, float] = Field(default_factory=dict)


def _format_error(err: ValidationError, file: str) -> ModelError:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
    return ModelError(f"{file}: [{key}] {msg}{more}", file=file, key=key)


def parse_model(text: str, *, source: str = "<model>") -> Model:
    """Parse and validate a model from TOML text; `source` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{source}: not valid TOML: {exc}", file=source) from exc
    try:
        return Model.model_validate(data)
    except ValidationError as exc:
        raise _format_error(exc, source) from None


def load_model(path: str | Path | None = None) -> Model:
    """Load the model at `path`, or the packaged default when `path` is None."""
    if path is None:
        text = resources.files("scoring").joinpath(DEFAULT_MODEL_NAME).read_text("utf-8")
        return parse_model(text, source=f"scoring/{DEFAULT_MODEL_NAME}")
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ModelError(f"{p}: cannot read model file: {exc.strerror}", file=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise ModelError(f"{p}: not UTF-8 text", file=str(p)) from exc
    return parse_model(text, source=str(p))
