"""The case service as the engine tests use it: a case named by its id alone is in the factory's
shop (``tests/support/factory.order`` opens every case there), one given as a ``CaseRef`` is
taken as it is. The product's ``CaseService`` always takes the shop (ids are per shop)."""

from __future__ import annotations

from typing import Any

from domain.models import CaseView
from runtime.cases import CaseService
from tests.support.factory import SHOP
from workflows.ids import CaseRef


def in_factory_shop(case: str | CaseRef) -> CaseRef:
    return case if isinstance(case, CaseRef) else CaseRef(SHOP, case)


class FactoryShopCases(CaseService):
    async def view(self, case: str | CaseRef) -> CaseView:  # type: ignore[override]
        return await super().view(in_factory_shop(case))

    async def command(self, case: str | CaseRef, *args: Any, **kwargs: Any) -> CaseView:  # type: ignore[override]
        return await super().command(in_factory_shop(case), *args, **kwargs)

    async def parcel_event(self, case: str | CaseRef, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        await super().parcel_event(in_factory_shop(case), *args, **kwargs)
