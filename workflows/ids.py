"""Workflow ids: derived from the case id and the order, so a retry finds the same workflow."""


def case_workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


def order_ledger_id(shop_id: str, order_id: str) -> str:
    return f"order-{shop_id}-{order_id}"


def parcel_workflow_id(carrier: str, tracking_number: str) -> str:
    """``parcel:{carrier}:{tracking_number}``, each part percent-encoded (a carrier or tracking
    number may hold any character, the separator included): one workflow per parcel."""
    from urllib.parse import quote

    return f"parcel:{quote(carrier, safe='')}:{quote(tracking_number, safe='')}"
