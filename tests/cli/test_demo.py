"""The demo's requests stay valid and eligible as the domain evolves; its script names real actions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cli.dev import DEMO_POLICY, DEMO_PRINCIPALS
from demo.run import ineligible_request, scenarios
from domain.eligibility import Ineligible, check_eligibility
from domain.models import CaseRequest, CaseState
from domain.policy import load_policy

POLICY = load_policy(DEMO_POLICY)


def eligible(request: CaseRequest) -> None:
    check_eligibility(
        request,
        now=datetime.now(UTC),
        policy=POLICY,
        claimed_before={},
        refund_reserved_before=0,
        shipping_already_refunded=False,
    )


@pytest.mark.parametrize("scenario", scenarios("0101120000"), ids=lambda s: s.key)
def test_each_scenario_opens_an_eligible_case(scenario) -> None:  # noqa: ANN001
    request = CaseRequest.model_validate(scenario.request)
    eligible(request)
    ids = {p["id"] for p in DEMO_PRINCIPALS}
    assert request.order.buyer_id in ids and request.order.shop_id == "shop-1"
    assert all(step.when in {s.value for s in CaseState} for step in scenario.steps)


def test_case_ids_differ_between_runs() -> None:
    first, second = scenarios("0101120000"), scenarios("0101120001")
    assert not {s.case_id for s in first} & {s.case_id for s in second}


def test_the_late_request_is_refused() -> None:
    with pytest.raises(Ineligible, match="window ended"):
        eligible(CaseRequest.model_validate(ineligible_request("0101120000")))
