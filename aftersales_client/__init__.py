"""A small typed client for the after-sales HTTP API.

from aftersales_client import AfterSalesClient, ApiError

with AfterSalesClient("http://127.0.0.1:8000", token) as api:
    view = api.act("case-42", "approve", note="goodwill", expected_version=3)
"""

from aftersales_client._client import DEFAULT_API_URL, AfterSalesClient, AsyncAfterSalesClient, action_name
from aftersales_client._errors import ApiError
from aftersales_client._types import CaseSummary, CaseView

__all__ = [
    "DEFAULT_API_URL",
    "AfterSalesClient",
    "ApiError",
    "AsyncAfterSalesClient",
    "CaseSummary",
    "CaseView",
    "action_name",
]
