"""Notices in the reader's language: a notice kind and its parameters, as the decider emits them,
worded from the ``notices`` gettext catalogs in the recipient's locale and time zone.

    from notices import load_readers, render
    reader = load_readers("shops.toml").reader(Role.STAFF, "shop-1")
    render("reminder", params, reader.locale, reader.time_zone).body

``notices.kinds`` holds what each kind says (the msgids); ``notices.readers`` who reads which
locale (the shops file, ``AFTERSALES_SHOPS``). The notification activity is the only caller in
the product: workflow code never words a notice.
"""

from notices.kinds import DOMAIN, KINDS, NoticeText
from notices.readers import Reader, Readers, ReadersError, load_readers, parse_readers
from notices.render import NoticeError, Rendered, placeholders, render

__all__ = [
    "DOMAIN",
    "KINDS",
    "NoticeError",
    "NoticeText",
    "Reader",
    "Readers",
    "ReadersError",
    "Rendered",
    "load_readers",
    "parse_readers",
    "placeholders",
    "render",
]
