"""The worker's process tuning: the payload converter and the garbage-collector settings."""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from domain.models import Principal, Role
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER
from worker import tune_garbage_collector


def test_the_converter_round_trips_models():
    converter = DATA_CONVERTER.payload_converter
    actor = Principal(role=Role.STAFF, id="alice", shop_id="shop-1")
    payloads = converter.to_payloads([actor, datetime(2026, 11, 22, tzinfo=UTC)])
    assert converter.from_payloads(payloads, [Principal, datetime]) == [actor, datetime(2026, 11, 22, tzinfo=UTC)]


@pytest.mark.parametrize(("text", "expected"), [
    ("5000,10,100", (5000, 10, 100)),
    ("[700, 10, 10]", (700, 10, 10)),
    ("python", None),
    ("", None),
])
def test_gc_thresholds_are_read_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setenv("AFTERSALES_GC_THRESHOLDS", text)
    assert Settings().gc_thresholds == expected


@pytest.mark.parametrize("text", ["5000,10", "a,b,c", "5000,-1,100", "[5000,-1,100]", "[1,2]", "[true,1,1]"])
def test_bad_gc_thresholds_name_the_setting_and_the_form(monkeypatch, text):
    monkeypatch.setenv("AFTERSALES_GC_THRESHOLDS", text)
    with pytest.raises(ValidationError) as err:
        Settings()
    message = str(err.value)
    assert "AFTERSALES_GC_THRESHOLDS" in message and "5000,10,100" in message


@pytest.fixture
def restored_gc():
    thresholds, callbacks = gc.get_threshold(), list(gc.callbacks)
    yield
    gc.set_threshold(*thresholds)
    gc.callbacks[:] = callbacks
    gc.unfreeze()


def test_the_worker_sets_the_thresholds_and_logs_long_pauses(restored_gc, caplog):
    settings = Settings(AFTERSALES_GC_THRESHOLDS="4000,9,90", AFTERSALES_GC_LOG_PAUSE=0.000001)
    tune_garbage_collector(settings)
    assert gc.get_threshold() == (4000, 9, 90)
    with caplog.at_level(logging.INFO, logger="worker.gc"):
        gc.collect()
    assert any("garbage collection (generation 2) paused the worker" in r.getMessage() for r in caplog.records)


def test_python_thresholds_are_kept_when_asked(restored_gc):
    before = gc.get_threshold()
    tune_garbage_collector(Settings(AFTERSALES_GC_THRESHOLDS="python"))
    assert gc.get_threshold() == before


def test_tuning_twice_logs_each_pause_once(restored_gc, caplog):
    settings = Settings(AFTERSALES_GC_LOG_PAUSE=0.000001)
    tune_garbage_collector(settings)
    tune_garbage_collector(settings)
    with caplog.at_level(logging.INFO, logger="worker.gc"):
        gc.collect()
    assert len([r for r in caplog.records if "generation 2" in r.getMessage()]) == 1
