"""Every side effect of a case, reached over HTTP with httpx against configurable endpoints.

Each class receives its ``httpx.AsyncClient`` and base URL, so tests hand it an
``httpx.MockTransport`` and production hands it the real provider.
"""

from activities.contracts import (
    Notification,
    ParcelLookup,
    ParcelStatusReport,
    PayoutRequest,
    PayoutResult,
)
from activities.courier import CourierActivities
from activities.notifications import NotificationActivities
from activities.payments import PaymentActivities

__all__ = [
    "CourierActivities",
    "Notification",
    "NotificationActivities",
    "ParcelLookup",
    "ParcelStatusReport",
    "PaymentActivities",
    "PayoutRequest",
    "PayoutResult",
]
