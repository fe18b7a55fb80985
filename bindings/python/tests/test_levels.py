"""Levels: all six arrive under their names; a level below the minimum is
filtered before any work and counted."""

from __future__ import annotations

import aires


def test_all_six_levels(events):
    for log in (aires.trace, aires.debug, aires.info, aires.warn, aires.error, aires.fatal):
        log("at " + log.__name__)
    aires.warning("alias of warn")
    aires.critical("alias of fatal")
    got = [(e["level"], e["message"]) for e in events(8)]
    assert got == [
        ("trace", "at trace"), ("debug", "at debug"), ("info", "at info"),
        ("warn", "at warn"), ("error", "at error"), ("fatal", "at fatal"),
        ("warn", "alias of warn"), ("fatal", "alias of fatal"),
    ]


def test_calls_below_the_level_are_filtered_and_counted(start):
    events = start(level="warn")
    assert aires.level() == "warn"
    before = aires.metrics()["events_dropped_filtered"]

    class Exploding:
        def __str__(self) -> str:
            raise AssertionError("a filtered call must not convert its fields")

    aires.info("filtered", field=Exploding())
    aires.debug("filtered too")
    aires.warn("kept")
    got = events(1)
    assert [e["message"] for e in got] == ["kept"]
    assert aires.metrics()["events_dropped_filtered"] == before + 2


def test_calls_before_init_and_after_shutdown_are_counted():
    assert not aires.is_running()
    before = aires.metrics()
    aires.info("nobody listens")
    after = aires.metrics()
    dropped = (after["events_dropped_before_init"] + after["events_dropped_after_shutdown"]) - (
        before["events_dropped_before_init"] + before["events_dropped_after_shutdown"]
    )
    assert dropped == 1
    assert aires.level() == "off"
    assert aires.flush(0.1) is False
