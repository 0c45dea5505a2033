"""The projector folds the event store incrementally: however the events are split between
catch-ups (a case's events across pages, new events arriving between reports), the facts and the
report are the same as one pass over everything; a catch-up with nothing new changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.report import write_cases
from reports.figures import build
from reports.projector import Projector

NOV = datetime(2026, 11, 1, tzinfo=UTC)
END = NOV + timedelta(days=30)


def test_any_split_of_the_events_gives_the_same_report(tmp_path):
    one, split = f"sqlite:///{tmp_path}/one/events.sqlite3", f"sqlite:///{tmp_path}/split/events.sqlite3"
    for dsn in (one, split):
        write_cases(dsn, "shop-p", 120, NOV, timedelta(days=18))
    whole = Projector(one)
    pieces = Projector(split)
    try:
        assert pieces.catch_up(page=3) == whole.catch_up() > 120 * 5  # pages of 3 split most cases
        assert build(pieces, "shop-p", NOV, END) == build(whole, "shop-p", NOV, END)
        # more cases arrive between two reports
        for dsn in (one, split):
            write_cases(dsn, "shop-p", 30, NOV + timedelta(days=3), timedelta(days=5), seed=2, prefix="late")
        first = build(pieces, "shop-p", NOV, END)
        assert first.ended.total == 150
        assert first == build(whole, "shop-p", NOV, END)
        assert pieces.catch_up() == 0
        assert build(pieces, "shop-p", NOV, END) == first
    finally:
        whole.close()
        pieces.close()


def test_an_empty_event_store_gives_an_empty_report(tmp_path):
    projector = Projector(f"sqlite:///{tmp_path}/nothing/events.sqlite3")
    try:
        report = build(projector, None, NOV, END)
    finally:
        projector.close()
    assert report.ended.total == report.opened.total == 0
    assert report.money == [] and report.weekly == [] and report.first_merchant_response.p50_seconds is None


def test_two_processes_folding_one_facts_file_count_each_event_once(tmp_path):
    """The API and a worker's weekly job share the facts file: folding at the same time, each
    page is folded by one of them (two projectors on one file, as two processes would be)."""
    import threading

    shared, alone = f"sqlite:///{tmp_path}/shared/events.sqlite3", f"sqlite:///{tmp_path}/alone/events.sqlite3"
    for dsn in (shared, alone):
        write_cases(dsn, "shop-p", 150, NOV, timedelta(days=18))
    api, job, reference = Projector(shared), Projector(shared), Projector(alone)
    try:
        folded: list[int] = []
        threads = [threading.Thread(target=lambda p=p: folded.append(p.catch_up(page=7))) for p in (api, job)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(folded) == reference.catch_up()
        assert build(api, "shop-p", NOV, END) == build(reference, "shop-p", NOV, END)
    finally:
        for projector in (api, job, reference):
            projector.close()
