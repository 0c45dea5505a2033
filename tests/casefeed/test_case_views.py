"""What a case records in the event store (its events, and its view, which the API reads):
each workflow task that changed the case records them, except a task that ran a command. That
task may never be committed (the worker or the server dies before it completes) and its update is
then lost unless the client retries, so what it recorded could tell of a change that never
happened, to the very client that reads the case to learn whether to retry. The command's events
and view go out with its answer (which comes only from a committed task) and are stored by
whoever got it: here a service with a store, and no one for the engine's service, which has none,
so the store shows what the workflow recorded alone; the next recording carries them too.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

from casefeed.store import EventStore
from domain.models import CaseView, ParcelStatus
from tests.support.cases import FactoryShopCases, in_factory_shop
from tests.support.factory import BUYER, STAFF, SYSTEM, request
from workflows.messages import ParcelEvent


def stored(store: EventStore, case_id: str) -> CaseView | None:
    body = store.case_view(in_factory_shop(case_id).workflow_id)
    return CaseView.model_validate_json(body) if body else None


def events(store: EventStore, case_id: str) -> list[tuple[int, int]]:
    """(sequence, version) of the case's stored events, in the store's order."""
    return [(e.sequence, e.version) for _, e in store.events_after(0, 1000, case_id=case_id)]


async def test_a_commands_task_records_nothing_the_next_task_and_the_commands_answerer_do(engine):
    store = EventStore(os.environ["AFTERSALES_EVENTS_DSN"])
    try:
        case_id = f"cv-{uuid.uuid4().hex[:8]}"
        now = await engine.now()
        opened = await engine.service.open_case(request(now, case_id, reason="quality_issue"), SYSTEM)
        assert opened.created
        await engine.env.sleep(timedelta(seconds=1))
        first = stored(store, case_id)
        assert first is not None and first.state == "awaiting_merchant_decision"

        # The workflow alone (the engine's service stores nothing): the command's task left the
        # view as it was.
        approved = await engine.service.command(case_id, "approve", STAFF)
        shipped = await engine.service.command(case_id, "submit_return_shipment", BUYER,
                                               {"carrier": "sf", "tracking_number": f"SF{case_id}",
                                                "shipping_cost": 900})
        assert approved.version == first.version + 1 and shipped.version == approved.version + 1
        assert stored(store, case_id) == first
        before = events(store, case_id)
        assert before and max(v for _, v in before) == first.version  # nor their events

        # A courier scan is a signal: its task records the view, with both commands in it.
        await engine.service.parcel_event(case_id, ParcelEvent(carrier="sf", tracking_number=f"SF{case_id}",
                                                               status=ParcelStatus.DELIVERED, occurred_at=now))
        await engine.env.sleep(timedelta(seconds=1))
        scanned = stored(store, case_id)
        assert scanned is not None and scanned.state == "awaiting_inspection" and scanned.version > shipped.version
        after = events(store, case_id)  # the commands' events came with it, in order, no gap
        assert [q for q, _ in after] == list(range(1, len(after) + 1))
        assert {v for _, v in after} >= {approved.version, shipped.version, scanned.version}

        # A service with the store stores the view its command answered with.
        answering = FactoryShopCases(engine.client, engine.task_queue, engine.service.policy, store=store)
        noted = await answering.command(case_id, "add_note", STAFF, {"note": "box dented"})
        assert stored(store, case_id) == noted and noted.version == scanned.version + 1
        assert await answering.view(case_id) == noted
        assert events(store, case_id)[-1] == (len(after) + 1, noted.version)  # and its event
    finally:
        store.close()
