"""A/B prefetch policies: each viewing session gets one, by a stable hash of its id.

    WSI_PREFETCH_POLICIES=off:20,viewport:30,full:50

`off` prefetches nothing, `viewport` only follows the viewer's moves, `full` also warms the
overview on open and applies the clinical-context rules. A session keeps its policy for life,
and every prefetch and request metric carries the policy, so an operator reads the effect of
each on real traffic from /metrics.
"""

import hashlib

POLICIES = ("off", "viewport", "full")


def parse_policies(text: str) -> list[tuple[str, float]]:
    """'off:20,full:80' -> [('off', 0.2), ('full', 0.8)]; shares are relative."""
    shares = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, share = part.partition(":")
        if name not in POLICIES:
            raise ValueError(f"WSI_PREFETCH_POLICIES: unknown policy {name!r} "
                             f"(use {', '.join(POLICIES)})")
        try:
            weight = float(share or 100)
        except ValueError:
            raise ValueError(f"WSI_PREFETCH_POLICIES: share of {name!r} is not a number") \
                from None
        if weight < 0:
            raise ValueError(f"WSI_PREFETCH_POLICIES: share of {name!r} is negative")
        shares.append((name, weight))
    total = sum(weight for _, weight in shares)
    if total <= 0:
        raise ValueError("WSI_PREFETCH_POLICIES: the shares add up to nothing")
    return [(name, weight / total) for name, weight in shares]


def policy_for(session_key: str, shares: list[tuple[str, float]]) -> str:
    """The session's policy: stable for a session id, in proportion to the shares."""
    digest = hashlib.blake2b(session_key.encode("utf-8", "surrogatepass"), digest_size=8)
    point = int.from_bytes(digest.digest(), "big") / 2 ** 64
    cumulative = 0.0
    for name, share in shares:
        cumulative += share
        if point < cumulative:
            return name
    return shares[-1][0]
