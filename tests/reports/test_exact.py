"""Every figure of the report, exactly, over a known set of cases run through the real case
workflows on the time-skipping server (every reachable outcome, automatic and not).

The expected figures come from the table below (what each case is and how it ends) and from the
cases' own views (amounts paid, line by line; when each was opened, first answered and ended),
never from the event store the report is built from.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from casefeed.store import EventStore
from domain.models import CaseView, ParcelStatus, Principal, Role
from domain.policy import Money, Policy
from reports.figures import build
from reports.projector import Projector
from runtime.cases import CaseService
from runtime.settings import Settings
from tests.support.factory import request
from tests.support.providers import FakeProviders
from tests.support.timeline import run_to_end
from worker import build_worker
from workflows.ids import CaseRef
from workflows.messages import ParcelEvent

SHOP, OTHER = "rpt-shop", "rpt-other"
SYSTEM = Principal(role=Role.SYSTEM, id="shop-backend")
STAFF = Principal(role=Role.STAFF, id="alice", shop_id=SHOP)
SUPERVISOR = Principal(role=Role.SUPERVISOR, id="sam", shop_id=SHOP)
OTHER_STAFF = Principal(role=Role.STAFF, id="olga", shop_id=OTHER)
BUYER = Principal(role=Role.BUYER, id="buyer-1")
PLATFORM = Principal(role=Role.PLATFORM, id="arbiter")
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


@dataclass(frozen=True)
class Expect:
    """What a case is and how it ends (the automatic deadline, if one decided it)."""

    type: str
    reason: str
    outcome: str
    decided_by: str
    automatic: tuple[str, ...] = ()  # the deadlines that run out, in order
    escalated: bool = False
    arbitration: str | None = None
    dispute_risk: bool = False
    reminders: int = 0
    acted: int = 0
    unshipped: bool = False


CASES: dict[str, Expect] = {
    # nobody acts on an out-of-stock refund: 72 h, three reminders, refund plus compensation
    "a-oos": Expect("refund_only", "out_of_stock", "refunded", "automatic", ("merchant_decision",),
                    reminders=3, unshipped=True),
    "b-approved": Expect("refund_only", "changed_mind", "refunded", "staff", unshipped=True),
    "c-return": Expect("return_refund", "quality_issue", "refunded", "staff"),
    "d-cancel": Expect("refund_only", "changed_mind", "closed:cancelled_by_buyer", "buyer", unshipped=True),
    # nobody approves the return (5 days), then the buyer never ships it (7 days)
    "e-timeout": Expect("return_refund", "no_reason", "closed:buyer_timeout", "automatic",
                        ("merchant_decision", "buyer_return_shipment"), dispute_risk=True, reminders=4),
    "f-rejected": Expect("refund_only", "changed_mind", "closed:rejected", "staff", unshipped=True),
    "g-partial": Expect("refund_only", "changed_mind", "refunded", "platform", escalated=True,
                        arbitration="refund_partial", unshipped=True),
    "h-denied": Expect("refund_only", "changed_mind", "closed:arbitration_denied", "platform", escalated=True,
                       arbitration="deny", unshipped=True),
    "i-full": Expect("refund_only", "changed_mind", "refunded", "platform", escalated=True,
                     arbitration="refund_full", unshipped=True),
    "j-exchange": Expect("exchange", "quality_issue", "completed", "staff"),
    # the buyer never confirms the replacement: auto-confirmed after 10 days
    "k-exchange-auto": Expect("exchange", "wrong_item", "completed", "automatic", ("buyer_confirm_receipt",),
                              dispute_risk=True, reminders=1),
    "l-returned": Expect("return_refund", "quality_issue", "closed:returned_to_buyer", "staff"),
    # the merchant never inspects the return: auto-refund 10 days after the tracking number
    "m-inspect-auto": Expect("return_refund", "quality_issue", "refunded", "automatic", ("merchant_inspection",),
                             dispute_risk=True, reminders=3),
    # reminded a day before the 5-day decision, the merchant approves an hour later
    "n-reminded": Expect("refund_only", "missing_item", "refunded", "staff", reminders=1, acted=1),
    # the payment is refused, the supervisor resumes it: still the staff's decision
    "o-resumed": Expect("refund_only", "changed_mind", "refunded", "staff", unshipped=True),
}


@dataclass
class Stack:
    service: CaseService
    providers: FakeProviders
    events_dsn: str
    env: Any


@pytest.fixture
async def stack(env, tmp_path) -> AsyncIterator[Stack]:
    policy = Policy(money=Money(out_of_stock_compensation_bps=3_000, out_of_stock_compensation_cap=50_000))
    providers = FakeProviders()
    dsn = f"sqlite:///{tmp_path}/events.db"
    settings = Settings(AFTERSALES_TASK_QUEUE="reports-test", PAYMENT_URL="http://fake/payments",
                        COURIER_URL="http://fake/courier", NOTIFY_URL="http://fake/notify")
    store = EventStore(dsn)
    async with providers.client() as http:
        async with build_worker(env.client, settings, http, events=store):
            yield Stack(CaseService(env.client, "reports-test", policy), providers, dsn, env)
    store.close()


def _in(shop: str, req):
    return req.model_copy(update={"order": req.order.model_copy(update={"shop_id": shop})})


async def _run(s: Stack) -> dict[str, CaseView]:
    now = await s.env.get_current_time()
    ref = {case_id: CaseRef(SHOP, case_id) for case_id in CASES}
    for case_id, e in CASES.items():
        kwargs: dict[str, Any] = {"order_kwargs": {"shipped": False}} if e.unshipped else {}
        await s.service.open_case(_in(SHOP, request(now, case_id, type=e.type, reason=e.reason,
                                                    quantity=2 if case_id == "a-oos" else 1, **kwargs)), SYSTEM)
    await s.service.open_case(_in(OTHER, request(now, "p-other", type="refund_only", reason="changed_mind",
                                                 order_kwargs={"shipped": False})), SYSTEM)
    cmd = s.service.command
    await cmd(ref["b-approved"], "approve", STAFF)
    await cmd(ref["c-return"], "approve", STAFF)
    await cmd(ref["c-return"], "submit_return_shipment", BUYER,
              {"carrier": "sf", "tracking_number": "RPT-C", "shipping_cost": 1_500})
    await s.service.parcel_event(ref["c-return"], ParcelEvent(carrier="sf", tracking_number="RPT-C",
                                                              status=ParcelStatus.DELIVERED, occurred_at=now))
    await cmd(ref["c-return"], "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})
    await cmd(ref["d-cancel"], "cancel", BUYER)
    await cmd(ref["f-rejected"], "reject", STAFF, {"reason": "used"})
    await cmd(ref["f-rejected"], "accept_offer", BUYER)
    for case_id, outcome in (("g-partial", {"outcome": "refund_partial", "amount": 5_000}),
                             ("h-denied", {"outcome": "deny"}), ("i-full", {"outcome": "refund_full"})):
        await cmd(ref[case_id], "reject", STAFF, {"reason": "no proof"})
        await cmd(ref[case_id], "escalate", BUYER)
        await cmd(ref[case_id], "arbitrate", PLATFORM, outcome)
    for case_id, cost in (("j-exchange", 1_000), ("k-exchange-auto", None)):
        await cmd(ref[case_id], "approve", STAFF)
        shipment = {"carrier": "sf", "tracking_number": f"RPT-{case_id}"} | ({"shipping_cost": cost} if cost else {})
        await cmd(ref[case_id], "submit_return_shipment", BUYER, shipment)
        await cmd(ref[case_id], "confirm_return_received", STAFF)
        await cmd(ref[case_id], "record_inspection", STAFF, {"passed": True, "responsibility": "product_defect"})
        await cmd(ref[case_id], "ship_item", STAFF, {"carrier": "sf", "tracking_number": f"OUT-{case_id}"})
    await cmd(ref["j-exchange"], "confirm_receipt", BUYER)
    await cmd(ref["l-returned"], "approve", STAFF)
    await cmd(ref["l-returned"], "submit_return_shipment", BUYER, {"carrier": "sf", "tracking_number": "RPT-L"})
    await cmd(ref["l-returned"], "confirm_return_received", STAFF)
    await cmd(ref["l-returned"], "record_inspection", STAFF, {"passed": False, "responsibility": "buyer_misuse",
                                                              "evidence": ["https://evidence.example/l.jpg"]})
    await cmd(ref["l-returned"], "accept_return_to_buyer", BUYER)
    await cmd(ref["m-inspect-auto"], "approve", STAFF)
    await cmd(ref["m-inspect-auto"], "submit_return_shipment", BUYER,
              {"carrier": "sf", "tracking_number": "RPT-M", "shipping_cost": 1_500})
    s.providers.refuse_payouts_for.add("o-resumed")
    await cmd(ref["o-resumed"], "approve", STAFF)
    await cmd(CaseRef(OTHER, "p-other"), "approve", OTHER_STAFF)
    await s.env.sleep(timedelta(seconds=5))
    assert (await s.service.view(ref["o-resumed"])).state == "needs_attention"
    s.providers.refuse_payouts_for.clear()
    await cmd(ref["o-resumed"], "resume", SUPERVISOR)

    await s.env.sleep(4 * DAY + HOUR)  # n-reminded: the shop's 1-day reminder went out at 4 days
    await cmd(ref["n-reminded"], "approve", STAFF)

    engine = type("E", (), {"client": s.env.client, "env": s.env})()
    views = {case_id: await run_to_end(engine, ref[case_id], limit=timedelta(days=30)) for case_id in CASES}
    views["p-other"] = await run_to_end(engine, CaseRef(OTHER, "p-other"))
    return views


def _nearest_rank(values: list[int], p: int) -> int | None:
    values = sorted(values)
    return values[math.ceil(p / 100 * len(values)) - 1] if values else None


def _seconds(view: CaseView, action_roles: tuple[str, ...] | None, action: str | None = None) -> int | None:
    opened = view.timeline[0].at
    for entry in view.timeline:
        if (action_roles and entry.actor.role in action_roles) or (action and entry.action == action):
            return int((entry.at - opened).total_seconds())
    return None


def _paid(view: CaseView) -> dict[str, int]:
    lines = view.refund.breakdown
    compensation = sum(line.amount for line in lines if line.kind == "out_of_stock_compensation")
    return {"refund": view.refund.refund, "compensation": compensation,
            "reimbursement": view.refund.reimbursement - compensation}


async def test_every_figure_of_the_report_is_exact(stack):
    views = await _run(stack)
    start = views["a-oos"].timeline[0].at - DAY
    end = start + 40 * DAY
    projector = Projector(stack.events_dsn)
    try:
        report = build(projector, SHOP, start, end)
        platform = build(projector, None, start, end)
        opened_by_type = Counter(e.type for e in CASES.values())
    finally:
        projector.close()

    for case_id, e in CASES.items():  # the runs went as the table says
        view = views[case_id]
        assert (view.state if view.state != "closed" else f"closed:{view.close_reason}") == e.outcome, case_id
        assert view.dispute_risk == e.dispute_risk, case_id

    assert report.shop_id == SHOP
    assert report.opened.total == len(CASES)
    assert report.opened.by_type == dict(sorted(opened_by_type.items()))
    assert report.opened.by_reason == dict(sorted(Counter(e.reason for e in CASES.values()).items()))
    assert report.ended.total == len(CASES)
    assert report.ended.by_type == report.opened.by_type
    assert report.ended.by_reason == report.opened.by_reason
    assert report.ended.by_outcome == dict(sorted(Counter(e.outcome for e in CASES.values()).items()))
    assert report.ended.by_decider == {"automatic": 4, "buyer": 1, "platform": 3, "staff": 7}
    assert report.ended.automatic == 4
    assert report.automatic_actions == {"buyer_confirm_receipt": 1, "buyer_return_shipment": 1,
                                        "merchant_decision": 2, "merchant_inspection": 1}

    (money,) = report.money
    assert money.currency == "CNY"
    for payer in ("automatic", "staff", "platform"):
        mine = [_paid(views[c]) for c, e in CASES.items() if e.decided_by == payer
                and not e.outcome.startswith("closed")]
        amounts = getattr(money, payer)
        for part in ("refund", "reimbursement", "compensation"):
            assert getattr(amounts, part) == sum(p[part] for p in mine), (payer, part)
        assert amounts.total == amounts.refund + amounts.reimbursement + amounts.compensation
    # the out-of-stock timeout: all of the order (2 x 100.00 + 10.00 shipping) and 30 % compensation
    assert _paid(views["a-oos"]) == {"refund": 21_000, "compensation": 6_000, "reimbursement": 0}
    assert money.automatic.compensation == 6_000
    assert money.platform.refund == 5_000 + views["i-full"].refund.refund
    assert money.automatic_by_deadline == {
        "merchant_decision": 27_000, "merchant_inspection": sum(_paid(views["m-inspect-auto"]).values())}

    first = [t for c in CASES if (t := _seconds(views[c], ("staff", "supervisor"))) is not None]
    assert len(first) == 12  # every case but the ones nobody at the shop touched (a, d, e)
    assert report.first_merchant_response.cases == 12
    assert report.first_merchant_response.p50_seconds == _nearest_rank(first, 50)
    assert report.first_merchant_response.p90_seconds == _nearest_rank(first, 90)
    # n-reminded answered after 4 days and an hour (plus the seconds the other cases took); p90 is the 11th of 12
    assert 0 <= max(first) - (4 * DAY + HOUR).total_seconds() < 60
    ended = [_seconds(views[c], None, "ended") for c in CASES]
    assert report.resolution.cases == len(CASES)
    assert report.resolution.p50_seconds == _nearest_rank([t for t in ended if t is not None], 50)
    assert report.resolution.p90_seconds == _nearest_rank([t for t in ended if t is not None], 90)
    assert report.resolution.p90_seconds >= 10 * 86_400

    assert report.dispute_risk_flagged == 3
    assert report.escalated == 3
    assert report.escalation_rate == round(3 / 15, 4)
    assert report.arbitration == {"deny": 1, "refund_full": 1, "refund_partial": 1}
    assert report.reminders_sent == sum(e.reminders for e in CASES.values()) == 12
    assert report.reminders_acted_on == 1
    reminded = sum(1 for c in CASES for entry in views[c].timeline if entry.action == "reminder_sent")
    assert reminded == 12

    # the weekly series: automatic money in the week each case ended, all of it accounted for
    assert sum(w.automatic for w in report.weekly) == money.automatic.total
    assert sum(w.staff for w in report.weekly) == money.staff.total
    assert [w.week_start.weekday() for w in report.weekly] == [0] * len(report.weekly)
    assert len(report.weekly) in (6, 7)  # 40 days from any weekday

    # platform-wide: the other shop's one approved case on top
    assert platform.shop_id is None
    assert platform.opened.total == platform.ended.total == len(CASES) + 1
    assert platform.money[0].staff.total == money.staff.total + views["p-other"].refund.amount
    assert platform.ended.by_decider["staff"] == 8

    # a period that ends before the long cases: only what ended in it
    projector = Projector(stack.events_dsn)
    try:
        early = build(projector, SHOP, start, start + DAY + 4 * DAY)
    finally:
        projector.close()
    cutoff = start + 5 * DAY
    assert early.ended.total == sum(1 for c in CASES if next(
        e.at for e in views[c].timeline if e.action == "ended") < cutoff)
    assert early.opened.total == len(CASES)
