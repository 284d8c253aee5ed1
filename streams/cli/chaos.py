"""`pulse bench chaos`: the chaos harness of `tests/chaos` (a source checkout's; see docs/chaos.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from streams.cli import bench_app

REPO_ROOT = Path(__file__).resolve().parents[2]


@bench_app.command("chaos", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                              "help_option_names": []})
def bench_chaos(ctx: typer.Context) -> None:
    """Kill, restart and fail the real pipeline on a private broker and Redis (500k events, worker
    kill -9 x3, broker and Redis restarts, notifier kill -9, receivers failing a
    share of sends at random), then check it
    against `pulse replay`; prints a JSON verdict, exit 1 on a failed one. Options: --help shows
    them (--events, --seed, --worker-kills, --guarantee, --keep DIR, --out FILE, ...)."""
    if not (REPO_ROOT / "tests" / "chaos" / "run.py").is_file():
        typer.echo("error: the chaos harness lives in the source checkout (tests/chaos): run it from a "
                   "clone of the repository", err=True)
        raise typer.Exit(2)
    # `-m` from the checkout's root puts it first on sys.path: the harness imports tests.chaos from there
    rc = subprocess.run([sys.executable, "-m", "tests.chaos", *ctx.args], cwd=REPO_ROOT).returncode
    raise typer.Exit(rc)
