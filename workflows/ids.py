"""Workflow ids and case references, scoped by shop.

Case ids and order ids are the shop's own: two shops may both have case ``c-1`` and order
``o-1``, and each gets its own workflows. An id is ``{kind}:{shop_id}:{id}``; the separator
``:`` is outside :data:`ID_PATTERN`, which every shop, order and case id must match, so an id
reads back one way only (shop ``a-b`` with order ``c`` and shop ``a`` with order ``b-c`` are
``order:a-b:c`` and ``order:a:b-c``). A retry derives the same id, so it finds the same workflow.

A caller who is not bound to one shop (platform, operator, buyer, a shop-less system) names a
case by its global reference ``{shop_id}:{case_id}`` (:class:`CaseRef`).
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import quote

from domain.models import ID_CHARACTERS, ID_PATTERN

#: Joins the parts of an id; :data:`ID_PATTERN` leaves it out.
SEPARATOR = ":"

_ID = re.compile(ID_PATTERN)
CASE_KIND = "case"
ORDER_KIND = "order"


def is_id(value: str) -> bool:
    return bool(_ID.fullmatch(value))


class CaseRef(NamedTuple):
    """One shop's case: the pair that names a case everywhere (its workflow, the API's
    global reference ``{shop_id}:{case_id}``)."""

    shop_id: str
    case_id: str

    def __str__(self) -> str:
        return f"{self.shop_id}{SEPARATOR}{self.case_id}"

    @property
    def workflow_id(self) -> str:
        return case_workflow_id(self.shop_id, self.case_id)

    @classmethod
    def parse(cls, text: str) -> CaseRef | None:
        """``{shop_id}:{case_id}`` as a reference; ``None`` unless both parts are valid ids."""
        shop_id, sep, case_id = text.partition(SEPARATOR)
        if sep and is_id(shop_id) and is_id(case_id):
            return cls(shop_id, case_id)
        return None

    @classmethod
    def from_workflow_id(cls, workflow_id: str) -> CaseRef | None:
        """The case a case workflow id names; ``None`` for any other workflow id."""
        kind, sep, rest = workflow_id.partition(SEPARATOR)
        return cls.parse(rest) if sep and kind == CASE_KIND else None


def _scoped(kind: str, shop_id: str, own_id: str) -> str:
    for name, value in (("shop_id", shop_id), (f"{kind}_id", own_id)):
        if not is_id(value):
            # Ids are validated at the edge (models, API); reaching here is a bug, not bad input.
            raise ValueError(f"{name} {value!r} is not an id ({ID_CHARACTERS})")
    return f"{kind}{SEPARATOR}{shop_id}{SEPARATOR}{own_id}"


def case_workflow_id(shop_id: str, case_id: str) -> str:
    """``case:{shop_id}:{case_id}``."""
    return _scoped(CASE_KIND, shop_id, case_id)


def order_ledger_id(shop_id: str, order_id: str) -> str:
    """``order:{shop_id}:{order_id}``."""
    return _scoped(ORDER_KIND, shop_id, order_id)


def parcel_workflow_id(carrier: str, tracking_number: str) -> str:
    """``parcel:{carrier}:{tracking_number}``, each part percent-encoded (a carrier or tracking
    number may hold any character, the separator included): one workflow per parcel."""
    return f"parcel{SEPARATOR}{quote(carrier, safe='')}{SEPARATOR}{quote(tracking_number, safe='')}"
