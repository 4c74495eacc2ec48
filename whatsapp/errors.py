"""What a Cloud API error code means for the run: Meta's own table, by code.

Classified by `code` and only then by HTTP status: sources disagree on the status that comes
with the rate-limit codes, and the code is what Meta documents.
"""

from __future__ import annotations

from core.errors import FailureKind

# Retry with backoff: app or account call rate (4, 80007), number throughput (130429),
# unknown (131000), service unavailable (131016), same recipient too fast (131056), account
# in maintenance (131057).
TRANSIENT = frozenset({4, 80007, 130429, 131000, 131016, 131056, 131057})
# The recipient cannot be reached: not on WhatsApp or terms not accepted (131026), stopped
# marketing messages (131050). Stop sending to them.
UNREACHABLE = frozenset({131026, 131050})
# Our request or set-up is broken, so every message will fail: token expired or invalid (0,
# 190), API or permission (3, 10, 200-299), parameters (100, 132000, 132012), policy (368),
# template missing, paused or disabled (132001, 132015, 132016), and the rest of Meta's list.
SETUP = frozenset(
    {0, 3, 10, 100, 190, 368, 131008, 131009, 132000, 132001, 132005, 132007, 132012, 132015,
     132016, 133010}
    | set(range(200, 300))
)  # fmt: skip
# Spam rate limit (131048) and the per-user marketing limit (131049): back off for hours.
HOLD = frozenset({131048, 131049})
# Above the business number's throughput: the shared rate limiter slows down on it.
THROUGHPUT = 130429


def classify(code: int | None, http_status: int | None) -> FailureKind:
    """The failure kind of an answer with error `code` (None when there was none) and HTTP
    `http_status` (None when no answer came: a network error or timeout)."""
    if code is not None:
        for codes, kind in (
            (TRANSIENT, FailureKind.TRANSIENT),
            (UNREACHABLE, FailureKind.UNREACHABLE),
            (SETUP, FailureKind.SETUP),
            (HOLD, FailureKind.HOLD),
        ):
            if code in codes:
                return kind
    if http_status is None or http_status >= 500 or http_status == 429:
        return FailureKind.TRANSIENT
    # An unknown code with a 4xx is about this message (e.g. 130472, a user in a Meta
    # experiment; 131047, outside the 24 h window): final for it, the others go on.
    return FailureKind.FINAL
