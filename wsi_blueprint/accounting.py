"""What the store traffic costs: requests and bytes priced, all traffic and prefetch's share.

Default prices are S3 Standard GET requests ($0.0004 per 1,000) and no transfer charge (a
server in the bucket's region pays none); set the per-GB price to your egress price otherwise.
Costs are counters like any other (`store_cost_dollars{purpose="all"|"prefetch"}`), so they
reach /metrics and the benchmark report; demand's share is all minus prefetch.
"""

from .counters import Counters

GB = 1e9


class CostModel:
    def __init__(self, per_1000_requests: float, per_gb: float):
        self.per_request = per_1000_requests / 1000
        self.per_byte = per_gb / GB

    def attach(self, counters: Counters) -> None:
        """Price every store request and byte as it is counted."""
        priced = {"store_requests": ("all", self.per_request),
                  "store_bytes": ("all", self.per_byte),
                  "prefetch_store_requests": ("prefetch", self.per_request),
                  "prefetch_bytes": ("prefetch", self.per_byte)}

        def observe(name: str, amount: float, labels: dict) -> None:
            if name in priced:
                purpose, unit = priced[name]
                if unit:
                    counters.inc("store_cost_dollars", amount * unit, purpose=purpose)

        counters.observe(observe)
