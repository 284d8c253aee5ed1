"""The scoring model: a TOML file validated by pydantic (strict, frozen).

`load_model(path)` returns a `Model` or raises `ModelError` naming the file, the
key and why. An unknown key, a wrong type or inconsistent bands are rejected.
`load_model(None)` loads the default model shipped in this package.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scoring.errors import ModelError
from scoring.tomlconfig import parse_toml, read_text

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


HEALTH_COMPONENTS = ("usage", "nps", "support", "billing", "onboarding")
_DEFAULT_HEALTH_WEIGHTS = {"usage": 0.4, "nps": 0.1, "support": 0.2, "billing": 0.3}
_DEFAULT_BILLING = {"Invoice Paid": 100.0, "Payment Failed": 30.0, "Subscription Past Due": 0.0}


class SignalsConfig(BaseModel):
    """Signal alerts of the health model (docs/semantics.md#signals); see scoring/signals.py."""

    model_config = _STRICT

    nps_detractor_max: float = Field(default=6, ge=0, le=10)
    nps_promoter_min: float = Field(default=9, ge=0, le=10)
    contraction: list[str] = Field(
        default_factory=lambda: ["Add-on Canceled", "Subscription Downgraded"])
    billing: bool = True  # `Payment Failed` / `Subscription Past Due` alerts

    @model_validator(mode="after")
    def _nps_order(self) -> SignalsConfig:
        if self.nps_detractor_max >= self.nps_promoter_min:
            raise ValueError("nps_detractor_max must be below nps_promoter_min")
        return self


class HealthConfig(BaseModel):
    """The Customer Health Score (docs/semantics.md#health); scoring/health.py does the arithmetic.

    `weights` maps components (usage, nps, support, billing and the optional onboarding) to
    weights >= 0 that must sum to 1. A component left out of `weights` is not part of the
    score; a component with no data yet for an account has its weight re-distributed.
    """

    model_config = _STRICT

    weights: dict[str, float] = Field(default_factory=lambda: dict(_DEFAULT_HEALTH_WEIGHTS))
    ticket_penalty: float = Field(default=25.0, ge=0)
    billing: dict[str, float] = Field(default_factory=lambda: dict(_DEFAULT_BILLING))
    milestones: list[str] = Field(default_factory=list)  # the onboarding checklist
    aha: str | None = None  # the milestone that is the "aha moment" (time-to-aha is kept)
    stall_days: float = Field(default=14, ge=0)  # onboarding_stalled after this; 0: never
    signals: SignalsConfig = SignalsConfig()

    @model_validator(mode="after")
    def _consistent(self) -> HealthConfig:
        unknown = sorted(set(self.weights) - set(HEALTH_COMPONENTS))
        if unknown:
            raise ValueError(f"weights: unknown component(s) {unknown}; "
                             f"known: {list(HEALTH_COMPONENTS)}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("weights must be >= 0")
        total = sum(self.weights.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"weights must sum to 1, got {total:g}")
        if any(not 0 <= v <= 100 for v in self.billing.values()):
            raise ValueError("billing values must be within 0..100")
        if "onboarding" in self.weights and not self.milestones:
            raise ValueError("an onboarding weight needs a non-empty milestones list")
        if self.aha is not None and self.aha not in self.milestones:
            raise ValueError(f"aha {self.aha!r} must be one of the milestones")
        return self


class ExplainConfig(BaseModel):
    """Trend and explanation in alerts (on when `[explain]` or `[health]` is present)."""

    model_config = _STRICT

    trend_days: int = Field(default=7, gt=0)  # score_7d_ago: the score this many days earlier
    top_events: int = Field(default=3, ge=0)  # how many contributing events an alert lists
    sharp_drop_points: float = Field(default=20.0, ge=0)  # 0: no sharp_drop alerts


class Model(BaseModel):
    model_config = _STRICT

    score: ScoreConfig = ScoreConfig()
    bands: BandsConfig = BandsConfig()
    weights: dict[str, float] = Field(default_factory=dict)
    health: HealthConfig | None = None
    explain: ExplainConfig | None = None

    @property
    def explain_config(self) -> ExplainConfig | None:
        """Trend/explanation settings, or None when the model keeps no such state."""
        if self.explain is not None:
            return self.explain
        return ExplainConfig() if self.health is not None else None


def parse_model(text: str, *, source: str = "<model>") -> Model:
    """Parse and validate a model from TOML text; `source` names it in errors."""
    return parse_toml(text, Model, source=source, error_cls=ModelError)


def load_model(path: str | Path | None = None) -> Model:
    """Load the model at `path`, or the packaged default when `path` is None."""
    if path is None:
        text = resources.files("scoring").joinpath(DEFAULT_MODEL_NAME).read_text("utf-8")
        return parse_model(text, source=f"scoring/{DEFAULT_MODEL_NAME}")
    return parse_model(read_text(path, "model file", ModelError), source=str(Path(path)))


def model_json(m: Model) -> bytes:
    """The model's content as canonical JSON (what a worker records beside its state)."""
    return m.model_dump_json().encode()


def model_from_json(raw: bytes | str) -> Model:
    """The model recorded by `model_json` (validated again)."""
    return Model.model_validate_json(raw)


def model_fingerprint(m: Model) -> str:
    """A short, stable id of the model's content: equal models, equal fingerprints."""
    return hashlib.sha256(model_json(m)).hexdigest()[:16]
