"""The mypyc-compiled scoring modules (scoring/__init__.py, scripts/build_native.py).

- the loader uses a build only while it matches the sources, and says so;
- compiled and pure Python give byte-identical replays (window, decay, and the health model) on
  generated telemetry with retries, out-of-order, late and malformed events.

`make test` runs the suite with PULSE_SCORING=native, so there the build must exist and be fresh
(the equivalence test cannot be skipped); CI also runs tests/unit with PULSE_SCORING=pure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import scoring
from streams.dev.telemetry import Config, write

ROOT = Path(__file__).resolve().parents[2]
MODELS = {
    "window": "[score]\nmode = 'window'\nwindow_days = 30\nhysteresis = 2.0\n"
              "[weights]\n'Login' = 1\n'Feature Used' = 0.5\n'Report Exported' = 5\n",
    "decay": "[score]\nmode = 'decay'\nhalf_life_days = 14\nhysteresis = 2.0\n"
             "[weights]\n'Login' = 1\n'Feature Used' = 0.5\n'Report Exported' = 5\n",
}
_PROBE = "import scoring, scoring.engine as e; print(scoring.IMPLEMENTATION, e.__file__)"


def _probe(pkg_root: Path, mode: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PULSE_SCORING"}
    if mode is not None:
        env["PULSE_SCORING"] = mode
    env["PYTHONPATH"] = str(pkg_root)
    return subprocess.run([sys.executable, "-c", _PROBE], cwd=pkg_root, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def pkg_copy(tmp_path: Path) -> Path:
    """A copy of the scoring package (sources only) with a compiled dir holding the real build's
    extension modules when there is a fresh one, else none."""
    dst = tmp_path / "scoring"
    shutil.copytree(ROOT / "scoring", dst, ignore=shutil.ignore_patterns("_compiled", "__pycache__"))
    (dst / "_compiled" / "scoring").mkdir(parents=True)
    if scoring.compiled_is_fresh():
        for so in (scoring.COMPILED_DIR / "scoring").iterdir():
            shutil.copy2(so, dst / "_compiled" / "scoring" / so.name)
    return tmp_path


def _stamp(root: Path) -> None:
    digest = subprocess.run(
        [sys.executable, "-c", "import scoring; print(scoring.sources_digest())"], cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "PULSE_SCORING": "pure"},
        capture_output=True, text=True, check=True).stdout.strip()
    (root / "scoring" / "_compiled" / "SOURCES.sha256").write_text(digest + "\n")


def test_no_build_means_pure_python(pkg_copy: Path) -> None:
    out = _probe(pkg_copy, None)
    assert out.returncode == 0, out.stderr
    impl, path = out.stdout.split()
    assert impl == "pure" and path.endswith("scoring/engine.py")
    forced = _probe(pkg_copy, "native")
    assert forced.returncode != 0 and "make native" in forced.stderr


def test_a_fresh_build_is_used_and_an_edit_makes_it_stale(pkg_copy: Path) -> None:
    _stamp(pkg_copy)
    out = _probe(pkg_copy, None)
    assert out.returncode == 0, out.stderr
    impl, path = out.stdout.split()
    assert impl == "native"
    if scoring.compiled_is_fresh():  # the real build was copied: its engine is what loads
        assert "/_compiled/scoring/engine." in path and path.endswith(".so")
    pure = _probe(pkg_copy, "pure")
    assert pure.stdout.split()[0] == "pure" and pure.stdout.split()[1].endswith("engine.py")
    window = pkg_copy / "scoring" / "window.py"
    window.write_text(window.read_text() + "\n# edited\n")
    stale = _probe(pkg_copy, None)
    assert stale.stdout.split()[0] == "pure" and stale.stdout.split()[1].endswith("engine.py")
    assert _probe(pkg_copy, "native").returncode != 0


def test_an_unknown_switch_is_refused(pkg_copy: Path) -> None:
    out = _probe(pkg_copy, "fast")
    assert out.returncode != 0 and "PULSE_SCORING must be auto, pure or native" in out.stderr


def _replay(events: Path, model: Path, out: Path, mode: str) -> dict[str, bytes]:
    subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(events), "--model", str(model),
                    "--out", str(out), "--no-progress"], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, "PULSE_SCORING": mode}, timeout=300)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize("model", ["window", "decay", "default"])
def test_compiled_and_pure_replays_are_byte_identical(model: str, tmp_path: Path) -> None:
    if not scoring.compiled_is_fresh():
        if os.environ.get("PULSE_SCORING") == "native":
            pytest.fail("PULSE_SCORING=native but there is no fresh build: run `make native`")
        pytest.skip("no fresh compiled build here (`make native`)")
    events = tmp_path / "events.jsonl"
    write(Config(events=40_000, accounts=400, days=60, seed=11), events)
    if model == "default":
        model_path = ROOT / "scoring" / "default_model.toml"
    else:
        model_path = tmp_path / "model.toml"
        model_path.write_text(MODELS[model])
    native = _replay(events, model_path, tmp_path / "native", "native")
    pure = _replay(events, model_path, tmp_path / "pure", "pure")
    assert native.keys() == pure.keys() and "changes.jsonl" in native
    for name in native:
        assert native[name] == pure[name], name
    assert native["changes.jsonl"].count(b"\n") > 10  # bands did change: the files say something


_PARSE_ALL = """
import sys
from scoring.calls import Rejected
from scoring.events import parse_message
for line in open(sys.argv[1], "rb"):
    line = line.rstrip(b"\\n")
    if line.strip():
        for it in parse_message(line, now_us=1_796_083_200_000_000):  # 2026-12-01T00:00:00Z
            print(it.reason if isinstance(it, Rejected) else repr(it))
"""


def test_compiled_and_pure_parse_every_client_shape_alike(tmp_path: Path) -> None:
    """Every item (event fields or reason code) of the held-out client-shapes file and of the
    hand-computed clients example, compiled vs pure."""
    if not scoring.compiled_is_fresh():
        if os.environ.get("PULSE_SCORING") == "native":
            pytest.fail("PULSE_SCORING=native but there is no fresh build: run `make native`")
        pytest.skip("no fresh compiled build here (`make native`)")
    from streams.dev.client_shapes import Config as ShapesConfig
    from streams.dev.client_shapes import write as write_shapes

    events = tmp_path / "shapes.jsonl"
    write_shapes(ShapesConfig(events=3000, accounts=24, seed=29), events)
    for path in (events, ROOT / "tests" / "data" / "clients" / "events.jsonl"):
        out = {mode: subprocess.run([sys.executable, "-c", _PARSE_ALL, str(path)], cwd=ROOT, check=True,
                                    capture_output=True, text=True, timeout=300,
                                    env={**os.environ, "PULSE_SCORING": mode}).stdout
               for mode in ("native", "pure")}
        assert out["native"] == out["pure"]
        assert out["pure"].count("Event(") > 20 and "oversize" in out["pure"] and "bad_type" in out["pure"]
