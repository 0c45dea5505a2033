"""The kinds of refusal a command or a request can meet, as ``ApplicationError.type`` values.

The HTTP API maps each to a status: 409 for state, version, deadline and id conflicts, 422 for
payloads and eligibility, 403 for roles and ownership.
"""

WRONG_STATE = "WrongState"
STALE_VERSION = "StaleVersion"
DEADLINE_PASSED = "DeadlinePassed"
INVALID_PAYLOAD = "InvalidPayload"
FORBIDDEN = "Forbidden"
#: The actor may not see the case at all (another shop's or buyer's); the API answers with the
#: same 404 as for a missing case, so a case's existence does not leak.
NOT_YOURS = "NotYours"
NEEDS_SUPERVISOR = "NeedsSupervisor"
INELIGIBLE = "Ineligible"
CASE_CONFLICT = "CaseConflict"

CONFLICT_TYPES = frozenset({WRONG_STATE, STALE_VERSION, DEADLINE_PASSED, CASE_CONFLICT})
UNPROCESSABLE_TYPES = frozenset({INVALID_PAYLOAD, INELIGIBLE})
FORBIDDEN_TYPES = frozenset({FORBIDDEN, NEEDS_SUPERVISOR, NOT_YOURS})
