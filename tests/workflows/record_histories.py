"""Record the histories the replay test checks, from today's code, into ``tests/histories``:

    .venv/bin/python -m tests.workflows.record_histories

It replaces the files there. Once cases run in production, a change to the workflows' command
sequence goes behind ``workflow.patched()`` (or worker versioning) and the histories recorded
before it are kept next to the new ones (record into another folder: ``--into DIR``), so the
replay test proves that running cases still replay.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.models import ParcelStatus
from domain.policy import Policy
from runtime.settings import Settings
from runtime.temporal import DATA_CONVERTER, register_search_attributes, test_server_path
from tests.support.cases import FactoryShopCases
from tests.support.factory import BUYER, PLATFORM, SHOP, STAFF, SUPERVISOR, SYSTEM, request
from tests.support.providers import FakeProviders
from worker import build_worker
from workflows.ids import case_workflow_id, order_ledger_id
from workflows.messages import ParcelEvent

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
DAY = timedelta(days=1)


async def record(folder: Path = HISTORIES) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=DATA_CONVERTER
    )
    await register_search_attributes(env.client)
    providers = FakeProviders()
    settings = Settings(AFTERSALES_TASK_QUEUE="record", PAYMENT_URL="http://fake/payments",
                        COURIER_URL="http://fake/courier", NOTIFY_URL="http://fake/notify")
    async with env, providers.client() as http, build_worker(env.client, settings, http):
        svc = FactoryShopCases(env.client, "record", Policy())
        now = await env.get_current_time()

        # 1. Out-of-stock refund the merchant ignores: reminders, auto-approve, refund, follow-up.
        await svc.open_case(request(now, "h-timeout", type="refund_only", reason="out_of_stock",
                                    order_kwargs={"shipped": False}), SYSTEM)
        # 2. Quality return through courier delivery and inspection.
        await svc.open_case(request(now, "h-return", reason="quality_issue"), SYSTEM)
        await svc.command("h-return", "approve", STAFF)
        await svc.command("h-return", "submit_return_shipment", BUYER,
                          {"carrier": "sf", "tracking_number": "H1", "shipping_cost": 900})
        await svc.parcel_event("h-return", ParcelEvent(carrier="sf", tracking_number="H1",
                                                       status=ParcelStatus.DELIVERED, occurred_at=now))
        await env.sleep(timedelta(seconds=1))
        await svc.command("h-return", "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})
        # 3. Exchange shipped and auto-confirmed.
        await svc.open_case(request(now, "h-exchange", type="exchange", reason="wrong_item"), SYSTEM)
        await svc.command("h-exchange", "approve", STAFF)
        await svc.command("h-exchange", "submit_return_shipment", BUYER, {"carrier": "sf", "tracking_number": "H2"})
        await svc.command("h-exchange", "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})
        await svc.command("h-exchange", "ship_item", STAFF, {"carrier": "sf", "tracking_number": "H3"})
        # 4. Refused, escalated, arbitrated with a partial refund.
        await svc.open_case(request(now, "h-dispute", type="refund_only", reason="not_as_described"), SYSTEM)
        await svc.command("h-dispute", "reject", STAFF, {"reason": "as described"})
        await svc.command("h-dispute", "escalate", BUYER)
        await svc.command("h-dispute", "arbitrate", PLATFORM, {"outcome": "refund_partial", "amount": 4_000})
        # 5. Payment refused, needs attention, resumed by a supervisor.
        providers.refuse_payouts_for.add("h-attention")
        await svc.open_case(request(now, "h-attention", type="refund_only", reason="changed_mind"), SYSTEM)
        await svc.command("h-attention", "approve", STAFF)
        await env.sleep(timedelta(seconds=5))
        providers.refuse_payouts_for.clear()
        await svc.command("h-attention", "resume", SUPERVISOR)
        # 6. A payout whose first attempt fails: listed as refunding, retried, paid once.
        await env.sleep(timedelta(seconds=5))
        providers.fail_next_payouts = 1
        await svc.open_case(request(now, "h-slow-payout", type="refund_only", reason="changed_mind"), SYSTEM)
        await svc.command("h-slow-payout", "approve", STAFF)

        # 7. A return opened with outbound events off (AFTERSALES_EVENTS=off): no record_events.
        quiet = FactoryShopCases(env.client, "record", Policy(), events=False)
        await quiet.open_case(request(now, "h-quiet", reason="quality_issue"), SYSTEM)
        await quiet.command("h-quiet", "approve", STAFF)
        await quiet.command("h-quiet", "submit_return_shipment", BUYER,
                            {"carrier": "sf", "tracking_number": "H4", "shipping_cost": 900})
        await quiet.parcel_event("h-quiet", ParcelEvent(carrier="sf", tracking_number="H4",
                                                        status=ParcelStatus.DELIVERED, occurred_at=now))
        await env.sleep(timedelta(seconds=1))
        await quiet.command("h-quiet", "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})

        await env.sleep(30 * DAY)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.json"):
            old.unlink()
        ids = [case_workflow_id(SHOP, c) for c in ("h-timeout", "h-return", "h-exchange", "h-dispute", "h-attention",
                                                 "h-slow-payout", "h-quiet")]
        ids.append(order_ledger_id(SHOP, "o-h-return"))
        for workflow_id in ids:
            history = await env.client.get_workflow_handle(workflow_id).fetch_history()
            # ":" makes awkward file names on some systems; "." is outside the id pattern too
            (folder / f"{workflow_id.replace(':', '.')}.json").write_text(history.to_json())
            print(f"wrote {workflow_id}: {len(history.events)} events")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--into", type=Path, default=HISTORIES, help=f"the folder (default {HISTORIES})")
    asyncio.run(record(parser.parse_args().into))
