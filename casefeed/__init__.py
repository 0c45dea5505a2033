"""Outbound case events: what happened to each case, stored in one database and delivered,
signed, to the shops' and the platform's subscribers.

- ``casefeed.events``: the event types and ``derive`` (pure; the case workflow uses it);
- ``casefeed.store``: the event store (SQLite by default): events, the ``cases`` read model,
  subscriptions, deliveries;
- ``casefeed.recording``: the activity the case workflow records its events with;
- ``casefeed.dispatch``: the dispatcher that delivers them (Standard Webhooks, ``casefeed.signing``);
- ``casefeed.subscriptions``: who hears of what, from configuration and the API.

This module imports nothing, so the workflow sandbox can pass ``casefeed.events`` through cheaply.
"""
