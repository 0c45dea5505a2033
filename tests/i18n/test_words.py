"""The words for the domain's values (``i18n.words``): every member of every domain enum has a word
in both locales, zh_CN translates every msgid of the ``words`` catalog, and labels are capitalized."""

from __future__ import annotations

from typing import get_args

import pytest

import i18n
from domain.commands import ArbitrateCommand
from domain.deadlines import DEADLINES
from domain.models import (
    CaseState,
    CaseType,
    CloseReason,
    LineKind,
    ParcelStatus,
    PayoutStatus,
    Reason,
    Responsibility,
    Role,
    WaitingOn,
)
from i18n import words
from i18n.words import word

#: Each table and every value the domain has for it.
DOMAIN_VALUES: dict[str, set[str]] = {
    "STATES": set(CaseState),
    "TYPES": set(CaseType),
    "REASONS": set(Reason),
    "CLOSE_REASONS": set(CloseReason),
    "DEADLINES": set(DEADLINES),
    "PARTIES": set(WaitingOn),
    "ROLES": set(Role),
    "RESPONSIBILITIES": set(Responsibility),
    "LEGS": {"return", "outbound"},  # domain.lifecycle's two parcels
    "PARCEL_STATUSES": set(ParcelStatus),
    "LINES": set(LineKind),
    "PAYOUTS": set(PayoutStatus),
    "ARBITRATION_OUTCOMES": set(get_args(ArbitrateCommand.model_fields["outcome"].annotation)),
}


def test_every_table_is_checked() -> None:
    assert set(DOMAIN_VALUES) == set(words.TABLES)


@pytest.mark.parametrize("name", sorted(DOMAIN_VALUES))
def test_every_member_has_a_word_in_both_locales(name: str) -> None:
    table = words.TABLES[name]
    assert set(table) == DOMAIN_VALUES[name]
    for value in DOMAIN_VALUES[name]:
        en, zh = word("en", table, value), word("zh-CN", table, value)
        assert en and "_" not in en and not any(ch.isascii() and ch.isalpha() for ch in zh), (value, en, zh)


def test_zh_cn_translates_every_msgid_of_the_words_catalog() -> None:
    assert len(words.msgids()) > 60
    assert i18n.untranslated("zh-CN", words.DOMAIN, words.msgids()) == []
    catalog = i18n.catalog("zh-CN", words.DOMAIN)
    assert sorted(m.id for m in catalog if m.id) == words.msgids(), "the catalog holds exactly the tables' words"


def test_labels_are_capitalized_and_words_in_sentences_are_not() -> None:
    assert word("en", words.REASONS, Reason.OUT_OF_STOCK) == "out of stock"
    assert word("en", words.REASONS, "out_of_stock", capitalized=True) == "Out of stock"
    assert word("en", words.STATES, "awaiting_inspection", capitalized=True) == "Awaiting inspection"
    assert word("zh-CN", words.REASONS, "out_of_stock") == word("zh-CN", words.REASONS, "out_of_stock",
                                                                capitalized=True) == "缺货"


def test_an_unknown_value_is_shown_as_it_is() -> None:
    assert word("en", words.REASONS, "something_new") == "something_new"
    assert word("zh-CN", words.STATES, None) == ""
