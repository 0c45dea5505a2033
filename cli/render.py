"""Human output: a case summary, a table of cases, amounts and times people can read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

#: Currencies without minor units (the rest are shown with two decimals).
ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX"})


def money(amount: int | None, currency: str | None) -> str:
    """``11000, "CNY"`` -> ``110.00 CNY`` (amounts travel in minor units)."""
    if amount is None:
        return "-"
    currency = currency or ""
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency}".strip()
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}{units}.{cents:02d} {currency}".strip()


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def relative(value: str | None, now: datetime | None = None) -> str:
    """``in 1h 59m`` / ``3m ago`` for an RFC 3339 time; ``-`` when there is none."""
    at = parse_time(value)
    if at is None:
        return value or "-"
    now = now or datetime.now(UTC)
    seconds = int((at - now).total_seconds())
    text = span(abs(seconds))
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def span(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return " ".join(parts) or "0s"


def clock(value: str | None) -> str:
    """A timestamp shortened to what a person scans for: ``2025-01-02 10:11:12``."""
    at = parse_time(value)
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else (value or "-")


def command_name(action: str) -> str:
    return action.replace("_", "-")


def detail_text(detail: Mapping[str, Any], currency: str | None, skip: frozenset[str] = frozenset()) -> str:
    """``key=value`` pairs of a timeline entry's detail, amounts as money."""
    parts = []
    for key, value in detail.items():
        if value in (None, [], {}, "") or key in skip:
            continue
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and key
            in {
                "amount",
                "refund",
                "reimbursement",
                "requested_refund",
                "offer",
                "deduction",
                "shipping_cost",
                "compensation",
                "max_refund",
            }
        ):
            value = money(value, currency)
        elif isinstance(value, list):
            value = ", ".join(str(v) if not isinstance(v, dict) else _inline(v) for v in value)
        elif isinstance(value, dict):
            value = _inline(value)
        parts.append(f"{key}={value}")
    return "  ".join(parts)


def _inline(value: Mapping[str, Any]) -> str:
    return " ".join(f"{k}:{v}" for k, v in value.items())


def case_summary(view: Mapping[str, Any], *, now: datetime | None = None, timeline: bool = True) -> str:
    """The readable summary of one case view."""
    refund = view.get("refund") or {}
    currency = refund.get("currency")
    lines = [
        f"case {view.get('case_id')}  {view.get('type')} / {view.get('reason')}"
        f"  order {view.get('order_id', '-')}  shop {view.get('shop_id')}  buyer {view.get('buyer_id')}",
    ]
    state = str(view.get("state"))
    if view.get("close_reason"):
        state += f" ({view['close_reason']})"
    if view.get("waiting_on"):
        state += f", waiting on {view['waiting_on']}"
    if view.get("dispute_risk"):
        state += "  ⚠ dispute risk"
    lines.append(f"  state     {state}")
    if view.get("deadline"):
        deadline = f"{clock(view['deadline'])} ({relative(view['deadline'], now)})"
        detail = view.get("deadline_detail") or {}
        if detail:
            deadline += f"  {detail.get('kind')}: then {detail.get('on_expiry')}"
        lines.append(f"  deadline  {deadline}")
    if view.get("offer") is not None:
        lines.append(f"  offer     {money(view['offer'], currency)}")
    for label, key in (("return", "return_tracking"), ("outbound", "outbound_tracking")):
        if view.get(key):
            lines.append(f"  {label:<9} {view[key]}")
    if view.get("needs_attention_reason"):
        lines.append(f"  problem   {view['needs_attention_reason']}")
    if refund:
        text = f"{money(refund.get('amount'), currency)} ({refund.get('status', '-')})"
        if refund.get("reimbursement"):
            text += (
                f" = refund {money(refund.get('refund'), currency)}"
                f" + reimbursement {money(refund.get('reimbursement'), currency)}"
            )
        lines.append(f"  refund    {text}")
        for line in refund.get("breakdown") or []:
            note = f"  {line['note']}" if line.get("note") else ""
            lines.append(f"              {line['kind']:<28}{money(line['amount'], currency):>14}{note}")
    lines.append(f"  version   {view.get('version')}   policy {view.get('policy_version', '-')}")
    if timeline and view.get("timeline"):
        lines.append("  timeline")
        for entry in view["timeline"]:
            actor = entry.get("actor") or {}
            who = f"{actor.get('role', '?')}:{actor.get('id', '?')}"
            detail = detail_text(entry.get("detail") or {}, currency)
            lines.append(f"    {clock(entry.get('at'))}  {who:<22} {entry.get('action'):<26} {detail}".rstrip())
    lines.append(f"  next      {next_actions_text(view)}")
    return "\n".join(lines)


def next_actions_text(view: Mapping[str, Any]) -> str:
    """``approve, reject (staff, supervisor); cancel (buyer)``, as CLI command names."""
    by_role: Mapping[str, Sequence[str]] = view.get("actions_by_role") or {}
    if not by_role:
        return ", ".join(command_name(a) for a in view.get("next_actions") or []) or "nothing (case ended)"
    roles_of: dict[str, list[str]] = {}
    for role, actions in by_role.items():
        for action in actions:
            roles_of.setdefault(action, []).append(role)
    order = [a for a in view.get("next_actions") or [] if a in roles_of]
    order += [a for a in roles_of if a not in order]
    groups: dict[tuple[str, ...], list[str]] = {}
    for action in order:
        roles = roles_of[action]
        groups.setdefault(tuple(sorted(roles)), []).append(command_name(action))
    return "; ".join(f"{', '.join(actions)} ({', '.join(roles)})" for roles, actions in groups.items())


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain text table with columns as wide as their widest cell."""
    cells = [[str(c) for c in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def case_table(views: Sequence[Mapping[str, Any]], *, now: datetime | None = None) -> str:
    """One line per case: what ``GET /v1/cases`` lists (the refund appears when the rows carry one)."""
    with_refund = any(v.get("refund") for v in views)
    rows = []
    for v in views:
        state = str(v.get("state") or "-")
        if v.get("close_reason"):
            state += f" ({v['close_reason']})"
        row = [
            v.get("case_id"),
            v.get("type"),
            state,
            v.get("waiting_on") or "-",
            relative(v.get("deadline"), now) if v.get("deadline") else "-",
            "yes" if v.get("dispute_risk") else "",
            relative(v.get("opened_at") or v.get("created_at"), now)
            if (v.get("opened_at") or v.get("created_at"))
            else "-",
        ]
        if with_refund:
            refund = v.get("refund") or {}
            row.append(money(refund.get("amount"), refund.get("currency")) if refund else "-")
        rows.append(row)
    headers = ["case", "type", "state", "waiting on", "deadline", "risk", "opened"]
    return table(rows, headers + (["refund"] if with_refund else []))
