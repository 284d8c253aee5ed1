"""Compile scoring's hot modules with mypyc into scoring/_compiled/ (see scoring/__init__.py).

    python scripts/build_native.py           build unless the build there is fresh
    python scripts/build_native.py --force   build anyway
    python scripts/build_native.py --check   exit 1 if there is no fresh build

Same source, same semantics: the compiled modules are what `pulse replay` and the worker run when
the build is fresh, and the test suite runs on them (CI also runs the unit tests on pure Python).
Needs a C compiler and the Python headers (gcc and python3.11's include dir on this machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PULSE_SCORING"] = "pure"  # importing `scoring` must not load the build it replaces

import scoring  # noqa: E402


def _can_compile() -> str | None:
    """Why this machine cannot compile, or None."""
    import sysconfig

    if shutil.which(os.environ.get("CC", "gcc")) is None:
        return "no C compiler (gcc): `apt-get install gcc`"
    if not Path(sysconfig.get_paths()["include"], "Python.h").is_file():
        return f"no Python headers (Python.h) for {sys.executable}: `apt-get install python3-dev`"
    return None


def build() -> None:
    from mypyc.build import mypycify
    from setuptools import setup

    digest = scoring.sources_digest()
    sources = [f"scoring/{m}.py" for m in scoring.NATIVE_MODULES]
    with tempfile.TemporaryDirectory(prefix="pulse-mypyc-") as tmp:
        # a copy of the package, built from its parent (mypyc names modules from relative paths;
        # setuptools must not read the project's pyproject.toml)
        shutil.copytree(ROOT / "scoring", f"{tmp}/src/scoring", ignore=shutil.ignore_patterns(
            "_compiled", "__pycache__"))
        cwd = os.getcwd()
        os.chdir(f"{tmp}/src")
        try:
            ext = mypycify(sources, opt_level="3", group_name="scoring._runtime",
                           target_dir=f"{tmp}/c")
            setup(name="pulse-scoring-native", ext_modules=ext, script_args=[
                "-q", "build_ext", "--build-lib", f"{tmp}/lib", "--build-temp", f"{tmp}/obj"])
        finally:
            os.chdir(cwd)
        if scoring.sources_digest() != digest:
            sys.exit("build_native: the sources changed during the build; run it again")
        out = scoring.COMPILED_DIR
        shutil.rmtree(out, ignore_errors=True)
        (out / "scoring").mkdir(parents=True)
        for so in Path(tmp, "lib", "scoring").iterdir():
            shutil.copy2(so, out / "scoring" / so.name)
        (out / "SOURCES.sha256").write_text(digest + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    fresh = scoring.compiled_is_fresh()
    if a.check:
        sys.exit(0 if fresh else 1)
    if fresh and not a.force:
        return
    why = _can_compile()
    if why is not None:
        sys.exit(f"build_native: cannot compile scoring's hot modules: {why}")
    started = time.perf_counter()
    print("build_native: compiling scoring's hot modules with mypyc ...", file=sys.stderr)
    build()
    print(f"build_native: scoring/_compiled/ built in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
