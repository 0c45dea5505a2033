"""The provider sandbox: one small HTTP service standing in for the payment provider, the courier
and the notification channel, so the dev stack and the end-to-end tests talk to something real.

It speaks the contract the activities use (see ``activities/``); faults are injected on demand;
courier events are pushed, signed, to a webhook. Run it with ``python -m sandbox``.
"""

from sandbox.app import DEFAULT_WEBHOOK_SECRET, Sandbox, create_app
from sandbox.courier import sign, signed_headers
from sandbox.models import DropMode, PaymentFaults

__all__ = ["DEFAULT_WEBHOOK_SECRET", "DropMode", "PaymentFaults", "Sandbox", "create_app", "sign", "signed_headers"]
