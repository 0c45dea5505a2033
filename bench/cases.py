"""What the benchmarks open and do: happy-path cases of each type, and their baseline twins.

Cases are driven through ``runtime.cases.CaseService`` (the Temporal client the API, the CLI and
the tests use), so throughput measures the engine; the HTTP layer has its own benchmark
(``bench.latency``). The baseline is driven by the same calls on the baseline workflows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from bench.baseline import SCRIPTS, BaselineCase, BaselineOpen, BaselineOrder, BaselineStep
from domain.models import CaseRequest, ParcelStatus, Principal, Role
from runtime.cases import CaseService
from workflows.ids import CaseRef
from workflows.messages import ParcelEvent

SHOP = "shop-1"
BUYER = Principal(role=Role.BUYER, id="buyer-1")
STAFF = Principal(role=Role.STAFF, id="alice", shop_id=SHOP)
SYSTEM = Principal(role=Role.SYSTEM, id="shop-backend")
CASE_TYPES = ("refund_only", "return_refund", "exchange", "repair")
UNIT_PRICE = 19_900  # under the staff refund limit with the shipping fee, so staff may approve
SHIPPING_FEE = 1_000


def case_request(case_id: str, case_type: str) -> CaseRequest:
    """A delivered one-item order and a seller-fault request of ``case_type`` on it."""
    now = datetime.now(UTC)
    order: dict[str, Any] = {
        "order_id": f"o-{case_id}",
        "shop_id": SHOP,
        "buyer_id": BUYER.id,
        "currency": "CNY",
        "paid_total": UNIT_PRICE + SHIPPING_FEE,
        "shipping_fee": SHIPPING_FEE,
        "free_shipping": False,
        "items": [{"sku": "sku-1", "title": "Kettle", "quantity": 1, "unit_price": UNIT_PRICE}],
        "guarantees": [
            {"kind": "no_reason_return", "days": 7},
            {"kind": "exchange", "days": 15},
            {"kind": "warranty", "days": 365},
        ],
        "shipped_at": (now - timedelta(days=4)).isoformat(),
        "delivered_at": (now - timedelta(days=2)).isoformat(),
    }
    return CaseRequest.model_validate(
        {
            "case_id": case_id,
            "type": case_type,
            "reason": "quality_issue",
            "order": order,
            "items": [{"sku": "sku-1", "quantity": 1}],
            "description": "does not switch off",
        }
    )


def tracking(case_id: str, leg: str = "R") -> str:
    return f"{leg}{case_id.replace('-', '')[-30:]}"


#: Awaited after each step when given (the cost benchmark waits there until the case is idle).
Between = Callable[[], Awaitable[None]] | None


async def _nothing() -> None:
    return None


async def drive_case(service: CaseService, case_id: str, case_type: str, between: Between = None) -> None:
    """Open a case and take it along its happy path up to the payout (which the engine makes)."""
    pause = between or _nothing
    case = CaseRef(SHOP, case_id)
    await service.open_case(case_request(case_id, case_type), SYSTEM)
    await pause()
    await service.command(case, "approve", STAFF)
    if case_type == "refund_only":
        return
    await pause()
    await service.command(
        case,
        "submit_return_shipment",
        BUYER,
        {"carrier": "sf-express", "tracking_number": tracking(case_id), "shipping_cost": 1200},
    )
    await pause()
    await service.parcel_event(
        case,
        ParcelEvent(
            carrier="sf-express", tracking_number=tracking(case_id), status=ParcelStatus.DELIVERED,
            occurred_at=datetime.now(UTC),
        ),
    )
    await pause()
    await service.command(
        case, "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"}
    )
    if case_type == "return_refund":
        return
    await pause()
    await service.command(case, "ship_item", STAFF, {"carrier": "zto", "tracking_number": tracking(case_id, "O")})
    await pause()
    await service.command(case, "confirm_receipt", BUYER)


def baseline_ids(case_id: str) -> tuple[str, str]:
    """(order workflow id, case workflow id) of a baseline case."""
    return f"baseline-order-{case_id}", f"baseline-case-{case_id}"


async def drive_baseline(client: Client, task_queue: str, case_id: str, case_type: str,
                         followup: timedelta | None = None, between: Between = None) -> None:
    """The baseline twin of :func:`drive_case`: the same calls, in the same order."""
    pause = between or _nothing
    order_id, child_id = baseline_ids(case_id)
    order = await client.start_workflow(
        BaselineOrder.run, order_id, id=order_id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    opening = BaselineOpen(case_id=case_id, case_type=case_type,
                           followup_seconds=followup.total_seconds() if followup else None)
    await order.execute_update(BaselineOrder.open, opening)
    handle = client.get_workflow_handle(child_id)
    for op in SCRIPTS[case_type]:
        if op == "update":
            await pause()
            await handle.execute_update(BaselineCase.step, BaselineStep(name="step"))
        elif op == "signal":
            await pause()
            await handle.signal(BaselineCase.event, "delivered")
