"""The model a worker records beside its state, and how `pulse scores export` chooses its model."""

from __future__ import annotations

import pytest

from scoring.model import load_model, model_fingerprint, model_from_json, model_json, parse_model
from streams.offline.export import ModelMismatchError, choose_model
from streams.worker.partition_state import MODEL_KEY, PartitionState, read_model_record

OTHER = """
[score]
window_days = 14
[weights]
"Login" = 2
"""


def test_a_model_survives_its_record_and_its_fingerprint_follows_its_content() -> None:
    default, other = load_model(None), parse_model(OTHER)
    assert model_from_json(model_json(default)) == default
    assert model_from_json(model_json(other)) == other
    assert model_fingerprint(default) == model_fingerprint(load_model(None))
    assert model_fingerprint(default) != model_fingerprint(other)
    assert model_fingerprint(other) != model_fingerprint(parse_model(OTHER.replace('= 2', '= 3')))


def test_a_partition_state_writes_its_model_once_and_restore_skips_it() -> None:
    other = parse_model(OTHER)
    st = PartitionState(0, other, 86400)
    first = dict(st.take_writes())
    assert read_model_record(first[MODEL_KEY]) == (model_fingerprint(other), other)
    assert MODEL_KEY not in dict(st.take_writes())  # once per state
    again = PartitionState.restore(0, other, 86400, first.items())
    assert again.scorer.accounts == {}


def _state(model):  # type: ignore[no-untyped-def]
    return {0: dict(PartitionState(0, model, 86400).take_writes()),
            1: dict(PartitionState(1, model, 86400).take_writes())}


def test_export_uses_the_recorded_model_and_refuses_another_unless_forced() -> None:
    other, default = parse_model(OTHER), load_model(None)
    latest = _state(other)
    assert choose_model(latest, None, False) == other
    assert choose_model(latest, parse_model(OTHER), False) == other
    with pytest.raises(ModelMismatchError, match="fingerprint"):
        choose_model(latest, default, False)
    assert choose_model(latest, default, True) == default


def test_partitions_recording_different_models_are_an_error_and_no_record_needs_a_model() -> None:
    mixed = {0: _state(parse_model(OTHER))[0], 1: _state(load_model(None))[1]}
    with pytest.raises(ModelMismatchError, match="different models"):
        choose_model(mixed, None, False)
    bare = {0: {k: v for k, v in _state(load_model(None))[0].items() if k != MODEL_KEY}}
    with pytest.raises(ModelMismatchError, match="records no model"):
        choose_model(bare, None, False)
    assert choose_model(bare, load_model(None), False) == load_model(None)
