"""Every text the workbench shows exists in Chinese: the zh_CN catalog translates every msgid its
templates, code and label tables use, with the same placeholders; every domain value has a label."""

from __future__ import annotations

import re

import i18n
from domain.deadlines import DEADLINES
from domain.models import CaseType
from domain.rules import ACTIONS
from tests.workbench.msgids import all_msgids, from_code, from_templates
from workbench import text

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_zh_cn_translates_every_msgid_the_workbench_uses() -> None:
    used = sorted(all_msgids())
    assert len(from_templates()) > 50 and len(from_code()) > 20  # the extraction finds them
    assert i18n.untranslated("zh-CN", "workbench", used) == []


def test_translations_keep_their_placeholders() -> None:
    catalog = i18n.catalog("zh-CN", "workbench")
    for msgid in all_msgids():
        message = catalog.get(msgid)
        assert message is not None
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(PLACEHOLDER.findall(msgid)), msgid


def test_every_action_and_expiry_has_a_label() -> None:
    # the domain's values are named by i18n.words (tests/i18n/test_words.py)
    assert set(text.ACTION_LABELS) == set(ACTIONS)
    for kind in DEADLINES:  # what happens at expiry, for every deadline and type
        for case_type in CaseType:
            assert text.expiry_msgid(kind, case_type) in all_msgids()


def test_the_countdown_reads_naturally_in_both_languages() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    due = now + timedelta(hours=3, minutes=12)
    en = str(text.Text("en").countdown(due, now, "merchant_decision", "refund_only", "CN¥199.00"))
    zh = str(text.Text("zh-CN").countdown(due, now, "merchant_decision", "refund_only", "¥199.00"))
    assert re.sub(r"<[^>]+>", "", en) == "auto-refund CN¥199.00 in 3 hr 12 min"
    assert re.sub(r"<[^>]+>", "", zh) == "3小时 12分钟后自动退款 ¥199.00"


def test_domain_values_read_as_labels_and_parcel_scans_as_before() -> None:
    from i18n import words

    en, zh = text.Text("en"), text.Text("zh-CN")
    assert en.word(words.STATES, "awaiting_inspection") == "Awaiting inspection"
    assert en.word(words.LINES, "return_shipping") == "Buyer's return shipping"
    assert zh.word(words.STATES, "awaiting_inspection") == "等待验货"
    assert [en.event(f"parcel_{s}") for s in ("picked_up", "in_transit", "delivered", "exception")] == [
        "Parcel picked up", "Parcel in transit", "Parcel delivered", "Parcel problem"]
    assert [zh.event(f"parcel_{s}") for s in ("picked_up", "in_transit", "delivered", "exception")] == [
        "包裹已揽收", "包裹运输中", "包裹已签收", "包裹异常"]
    assert (en.event("reminder_sent"), en.event("approve"), en.event("unknown_entry")) == (
        "Reminder sent", "Approve", "unknown_entry")
