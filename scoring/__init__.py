"""Pulse's pure scoring domain: events, model, window, decay, bands, engine.

Nothing in this package touches Kafka, Redis, asyncio, Faust or the wall clock:
time is always passed in.

The hot modules (`NATIVE_MODULES`) can also be compiled from this same source
with mypyc (`make native`, run by `make setup`): `scripts/build_native.py` puts
the extension modules in `scoring/_compiled/scoring/` with a digest of the
sources they were built from. On import this package puts that directory first
on its `__path__` only when the digest matches the sources as they are now, so
an edited `.py` is never shadowed by a stale build: the package falls back to
pure Python until it is rebuilt. `IMPLEMENTATION` says which one is running.
The single exception to "no environment" in this package is the switch that
forces a choice: `PULSE_SCORING=pure` (never the compiled modules) or
`PULSE_SCORING=native` (fail at import unless a fresh build is there).
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from pathlib import Path

NATIVE_MODULES = ("account", "bands", "calls", "change", "decay", "dedup", "engine", "events", "feed",
                  "timefmt", "window")
COMPILED_DIR = Path(__file__).resolve().parent / "_compiled"
_STAMP = COMPILED_DIR / "SOURCES.sha256"


def sources_digest() -> str:
    """The digest of the hot modules' sources and of the interpreter's extension ABI (what a
    compiled build must match)."""
    h = hashlib.sha256(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())  # this interpreter's ABI
    here = COMPILED_DIR.parent
    for name in NATIVE_MODULES:
        h.update(name.encode() + b"\0" + (here / f"{name}.py").read_bytes() + b"\0")
    return h.hexdigest()


def compiled_is_fresh() -> bool:
    return _STAMP.is_file() and _STAMP.read_text().strip() == sources_digest()


def _choose() -> str:
    mode = os.environ.get("PULSE_SCORING", "auto")
    if mode not in ("auto", "pure", "native"):
        raise ImportError(f"PULSE_SCORING must be auto, pure or native, not {mode!r}")
    if mode == "pure":
        return "pure"
    if compiled_is_fresh():
        __path__.insert(0, str(COMPILED_DIR / "scoring"))
        return "native"
    if mode == "native":
        raise ImportError("PULSE_SCORING=native, but scoring/_compiled is missing or older than the "
                          "sources: run `make native`")
    return "pure"


IMPLEMENTATION = _choose()
