"""One owner for configuration: `Settings` reads the environment (and nothing else in streams/
does), `WorkerConfig` comes from it, `TopicNames` gives every Kafka name, and Faust agrees."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scoring.model import load_model
from streams.settings import Settings, get_settings
from streams.topics import ACCOUNT_STATE_TABLE, USER_ACCOUNTS_TABLE, TopicNames
from streams.worker.app import WorkerConfig, create_app, declare

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def test_only_settings_reads_the_environment() -> None:
    """Every `os.environ` / `getenv` / typer `envvar=` under streams/ is in settings.py."""
    pattern = re.compile(r"os\.environ|getenv\(|envvar\s*=|from os import environ")
    found = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "streams").rglob("*.py"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert found and all(f.startswith("streams/settings.py:") for f in found), found


def test_settings_come_from_pulse_variables_and_keep_secrets_out_of_reprs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_NOTIFIER_CONFIG", "/etc/pulse/notifier.toml")
    monkeypatch.setenv("PULSE_NOTIFIER_PORT", "7001")
    monkeypatch.setenv("PULSE_SWEEP_SECONDS", "3600")
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@redis.example:6379/0")
    s = Settings()
    assert (s.notifier_config, s.notifier_port, s.sweep_seconds) == (Path("/etc/pulse/notifier.toml"), 7001, 3600)
    assert s.redis == "redis://:hunter2@redis.example:6379/0"
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())


def test_worker_config_takes_the_settings_and_overrides_win(tmp_path: Path) -> None:
    s = Settings(partitions=4, sweep_seconds=3600, web_port=7777, data_dir=tmp_path)
    model = load_model(None)
    cfg = WorkerConfig.from_settings(s, model)
    assert (cfg.partitions, cfg.sweep_seconds, cfg.web_port, cfg.data_dir) == (4, 3600, 7777, tmp_path)
    cfg = WorkerConfig.from_settings(s, model, partitions=2, sweep_seconds=None, live=True)
    assert (cfg.partitions, cfg.sweep_seconds, cfg.live) == (2, 3600, True)  # None: the setting
    with pytest.raises(TypeError):
        WorkerConfig.from_settings(s, model, no_such_field=1)


def test_topic_names_are_what_faust_uses(tmp_path: Path) -> None:
    """The worker's app id, topics and the changelog topics of its tables, as TopicNames gives
    them, equal what Faust derives (built, not started): a Faust upgrade that renames changelog
    topics fails here, not in `pulse scores export` reading an empty topic."""
    s = Settings(topic_prefix="tn.", data_dir=tmp_path)
    cfg = WorkerConfig.from_settings(s, load_model(None), partitions=3)
    app = create_app(cfg)
    topo = declare(app, cfg)
    names = TopicNames.from_settings(s)
    assert app.conf.id == names.worker_app == "tn.worker"  # Faust's consumer group is its app id
    assert topo.events.get_topic_name() == names.events == "tn.events"
    assert topo.scored.get_topic_name() == names.scored
    assert topo.states.changelog_topic.get_topic_name() == names.changelog(ACCOUNT_STATE_TABLE) \
        == names.account_state_changelog == "tn.worker-account-state-changelog"
    assert topo.users.changelog_topic.get_topic_name() == names.changelog(USER_ACCOUNTS_TABLE)
    with pytest.raises(ValueError, match="not a worker table"):
        names.changelog("no-such-table")
    assert (tmp_path / names.worker_app).is_dir()  # the RocksDB folder is per app id


def test_every_name_is_under_the_prefix() -> None:
    names = TopicNames("p9.")
    every = [*names.all(), *names.public(), names.worker_app, names.notifier_group, names.floor_app,
             names.account_state_changelog, names.changelog(USER_ACCOUNTS_TABLE)]
    assert all(n.startswith("p9.") for n in every)
    assert len(set(every)) == len(every) - len(names.public())  # public() is a subset of all()
    assert set(names.public()) < set(names.all())


def _replay(out: Path, *args: str, env: dict[str, str] | None = None) -> bytes:
    from streams.cli import _register, app

    _register()
    get_settings.cache_clear()
    try:
        r = CliRunner().invoke(app, ["replay", str(DATA / "example.jsonl"), "--model",
                                     str(DATA / "example_model.toml"), "--out", str(out), *args], env=env)
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    return (out / "changes.jsonl").read_bytes() + (out / "scores.jsonl").read_bytes()


def test_sweep_seconds_option_defaults_to_the_setting(tmp_path: Path) -> None:
    by_env = _replay(tmp_path / "env", env={"PULSE_SWEEP_SECONDS": "600000"})
    by_flag = _replay(tmp_path / "flag", "--sweep-seconds", "600000")
    default = _replay(tmp_path / "default")
    assert by_env == by_flag
    assert by_env != default  # the setting is not ignored
