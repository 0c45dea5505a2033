"""Workflow ids: derived from the case id and the order, so a retry finds the same workflow."""


def case_workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


def order_ledger_id(shop_id: str, order_id: str) -> str:
    return f"order-{shop_id}-{order_id}"
