"""Notices in the reader's language: every kind the decider emits has a title and a body in the
catalogs, in zh-CN and en, and every notice the decider really emits (every action in every
situation, every alarm, parcel scan and payout answer) renders in both with nothing left over."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import i18n
from domain import lifecycle
from domain.casefile import AlarmRang, Notify, ParcelScanned, PayoutPaid, PayoutRefused, Refused
from domain.deadlines import DEADLINES
from domain.models import CaseType, CloseReason, ParcelStatus, Reason, Responsibility, Role
from domain.money import grant_for
from domain.rules import ACTIONS
from i18n import words
from notices import KINDS, NoticeError, Reader, load_readers, parse_readers, placeholders, render
from notices.kinds import CODES, DOMAIN, OUTCOMES, msgids
from notices.readers import ReadersError
from tests.domain.lifecycle_cases import NOW, POLICY, SITUATIONS, command, step
from tests.support.factory import BUYER, PLATFORM, STAFF, SUPERVISOR, SYSTEM, request

DOMAIN_CODE = Path(__file__).resolve().parents[2] / "domain"
CJK = re.compile(r"[\u4e00-\u9fff]")


def kinds_in_the_decider() -> set[str]:
    """The kinds named by every ``notify(party, "kind", ...)`` call in the domain's source."""
    found = set()
    for path in DOMAIN_CODE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "notify"
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)):
                found.add(node.args[1].value)
    return found


def _notices(effects: list) -> list[Notify]:
    return [e for e in effects if isinstance(e, Notify)]


def emitted_notices() -> list[Notify]:
    """What the decider emits: opening cases, every action by every role in every situation, every
    alarm of each situation, parcel scans on both legs, and both payout answers."""
    found: list[Notify] = []
    for case_type, reason in [("refund_only", "not_as_described"), ("exchange", "wrong_item")]:
        req = request(NOW, "n-1", type=case_type, reason=reason)
        grant = grant_for(req, claimed_before={}, refund_reserved_before=0, shipping_already_refunded=False)
        _, effects = lifecycle.open_case(req, grant, ledger_workflow_id="ledger", opened_by=SYSTEM, opened_at=NOW,
                                         now=NOW, policy=POLICY)
        found += _notices(effects)
    for case in SITUATIONS.values():
        for action in ACTIONS:
            for actor in (SYSTEM, BUYER, STAFF, SUPERVISOR, PLATFORM):
                try:
                    found += _notices(step(case, command(action, actor))[1])
                except Refused:
                    pass
        try:
            found += _notices(step(case, command("record_inspection", STAFF, passed=False,
                                                 responsibility="no_fault"))[1])
        except Refused:
            pass
        for alarm in lifecycle.alarms(case, POLICY):
            found += _notices(step(case, AlarmRang(at=alarm.at), at=alarm.at)[1])
        for tracking in filter(None, (case.return_tracking, case.outbound_tracking)):
            for status in (ParcelStatus.EXCEPTION, ParcelStatus.DELIVERED):
                found += _notices(step(case, ParcelScanned("sf", tracking, status, NOW))[1])
    refunding = SITUATIONS["refunding"]
    found += _notices(step(refunding, PayoutPaid(payment_id="p-1", amount=10_000, currency="CNY", paid_under=None,
                                                 already_paid=False))[1])
    found += _notices(step(refunding, PayoutRefused(reason="account closed"))[1])
    return found


EMITTED = emitted_notices()


def test_every_kind_the_decider_emits_has_words_and_every_entry_is_used():
    assert kinds_in_the_decider() == set(KINDS)
    assert {n.kind for n in EMITTED} == set(KINDS), "a kind no scenario here emits is not checked below"


def test_the_chinese_catalog_translates_every_msgid_and_keeps_its_placeholders():
    assert i18n.untranslated("zh-CN", DOMAIN, msgids()) == []
    for msgid in msgids():
        for locale in i18n.LOCALES:
            assert placeholders(i18n.gettext(locale, DOMAIN, msgid)) == placeholders(msgid), (locale, msgid)


def test_every_code_a_parameter_carries_has_words():
    # the words themselves are i18n.words' (tests/i18n/test_words.py checks each enum is covered)
    assert CODES["deadline"] is words.DEADLINES and set(words.DEADLINES) == set(DEADLINES)
    assert CODES["type"] is words.TYPES and set(words.TYPES) == set(CaseType)
    assert CODES["reason"] is words.REASONS and set(words.REASONS) == set(Reason)
    assert CODES["close_reason"] is words.CLOSE_REASONS and set(words.CLOSE_REASONS) == set(CloseReason)
    assert CODES["responsibility"] is words.RESPONSIBILITIES and set(words.RESPONSIBILITIES) == set(Responsibility)


def test_a_reminders_outcome_reads_as_the_deadline_table_says_it_in_chinese():
    outcomes = {DEADLINES[k].outcome(SimpleNamespace(type=t)) for k in DEADLINES for t in CaseType}  # type: ignore[arg-type]
    assert {o.en for o in outcomes} == set(OUTCOMES)
    for outcome in outcomes:
        assert i18n.gettext("zh-CN", DOMAIN, outcome.en) == outcome.zh


@pytest.mark.parametrize("locale", i18n.LOCALES)
@pytest.mark.parametrize("notice", EMITTED, ids=lambda n: f"{n.kind}-{n.role}")
def test_every_emitted_notice_renders_with_nothing_left_over(notice: Notify, locale: str):
    rendered = render(notice.kind, notice.params, locale)
    for text in (rendered.title, rendered.body):
        assert text and "{" not in text and "}" not in text, text
        assert bool(CJK.search(text)) == (locale == "zh-CN"), text
        # codes are worded: no snake_case value of a code table shows through
        assert not re.search(r"\b(merchant_decision|refund_only|return_refund|buyer_timeout|quality_issue)\b", text)


def test_amounts_are_money_in_the_readers_locale():
    offer = next(n for n in EMITTED if n.kind == "offer")
    assert "¥30.00" in render("offer", offer.params, "zh-CN").body
    assert "CN¥30.00" in render("offer", offer.params, "en").body


def test_a_notice_that_cannot_be_worded_says_why():
    with pytest.raises(NoticeError, match="no notice kind 'nope'"):
        render("nope", {}, "en")
    with pytest.raises(NoticeError, match="needs the parameters refusal"):
        render("rejected", {"case_id": "c"}, "zh-CN")
    with pytest.raises(NoticeError, match="locale 'fr'"):
        render("escalated", {"case_id": "c"}, "fr")


def test_who_reads_which_locale():
    readers = parse_readers({"default": {"locale": "en"}, "platform": {"locale": "zh-CN"},
                             "shops": {"shop-cn": {"locale": "zh-CN", "time_zone": "Asia/Shanghai"},
                                       "shop-uk": {"time_zone": "Europe/London"}}})
    assert readers.reader(Role.STAFF, "shop-cn").locale == "zh-CN"
    assert readers.reader(Role.BUYER, "shop-cn").locale == "zh-CN"  # a shop's buyers read the shop's language
    assert readers.reader(Role.SUPERVISOR, "shop-uk").locale == "en"  # unset: the default's
    assert readers.reader(Role.SUPERVISOR, "shop-uk").time_zone == "Europe/London"
    assert readers.reader(Role.PLATFORM, "shop-uk").locale == "zh-CN"
    assert readers.shop("unlisted").locale == "en"
    nobody = parse_readers({})
    assert (nobody.shop("any").locale, nobody.shop("any").time_zone) == ("zh-CN", "Asia/Shanghai")


@pytest.mark.parametrize(("data", "says"), [
    ({"shops": {"s": {"locale": "fr"}}}, "shops.s.locale: Value error, 'fr' is not a locale we ship; use one of zh-CN, en"),
    ({"default": {"time_zone": "Mars/Olympus"}}, "default.time_zone: Value error, 'Mars/Olympus' is not an IANA time zone"),
    ({"shops": {"s": {"language": "en"}}}, "shops.s.language: Extra inputs are not permitted"),
])
def test_a_bad_shops_file_names_the_field_and_what_is_allowed(data: dict, says: str):
    with pytest.raises(ReadersError) as caught:
        parse_readers(data, source="shops file x.toml")
    assert str(caught.value).startswith("shops file x.toml: ")
    assert says in str(caught.value)




def test_the_example_shops_file_loads_and_says_what_its_comments_say():
    readers = load_readers(Path(__file__).resolve().parents[2] / "shops.example.toml")
    assert readers.reader(Role.STAFF, "shop-2") == Reader(locale="en", time_zone="Asia/Shanghai")
    assert readers.reader(Role.BUYER, "shop-1") == Reader(locale="zh-CN", time_zone="Asia/Shanghai")
    assert readers.reader(Role.PLATFORM, "shop-2").locale == "zh-CN"


def test_a_missing_or_broken_shops_file_names_the_file(tmp_path: Path):
    with pytest.raises(ReadersError, match="shops file .*nowhere.toml does not exist"):
        load_readers(tmp_path / "nowhere.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[shops\n", encoding="utf-8")
    with pytest.raises(ReadersError, match="broken.toml is not valid TOML"):
        load_readers(broken)


def test_a_refused_payout_tells_the_supervisor_the_providers_reason_and_again_when_nobody_acts():
    refused, effects = step(SITUATIONS["refunding"], PayoutRefused(reason="account closed"))
    [first] = [n for n in _notices(effects) if n.kind == "needs_attention"]
    assert first.role == Role.SUPERVISOR and first.params["provider_reason"] == "account closed"
    assert refused.deadline is not None
    _, later = step(refused, AlarmRang(at=refused.deadline.at), at=refused.deadline.at)
    [again] = [n for n in _notices(later) if n.kind == "needs_attention"]
    assert render(again.kind, again.params, "zh-CN").body.startswith("支付渠道拒绝了售后单 lc-1 的退款：account closed。")
