"""A Markov model over a session's last operations: how sure are we of the next one?

Transitions are counted over the session's last `history` operations (default 5). The next
operation's probability is the share of transitions from the current one that led to it; only
those at or above the confidence threshold (default 0.7) are worth fetching for. One transition
is too little evidence (it would be certain at once); until there are `EVIDENCE`, momentum
stands in for a sweep under way: a pan that follows a pan is likely to be followed by the same
pan. A lone pan after a zoom or a jump is as often a correction as the start of a sweep, and a
zoom's next frame is foreseen within its burst (see the engine).
"""

import collections

from .viewport import JUMP, PANS

EVIDENCE = 2  # transitions from the current operation needed to trust their shares


class OperationModel:
    def __init__(self, history: int = 5, threshold: float = 0.7):
        self.history = history
        self.threshold = threshold
        self.operations: collections.deque[str] = collections.deque(maxlen=history)

    def record(self, op: str) -> None:
        self.operations.append(op)

    def probabilities(self) -> dict[str, float]:
        """P(next operation) given the last one, from the transitions in the history."""
        ops = list(self.operations)
        if not ops:
            return {}
        current = ops[-1]
        following = [b for a, b in zip(ops, ops[1:]) if a == current]
        if len(following) < EVIDENCE:
            sweeping = current in PANS and len(ops) > 1 and ops[-2] in PANS
            return {current: 1.0} if sweeping else {}  # momentum
        counts = collections.Counter(following)
        return {op: n / len(following) for op, n in counts.items()}

    def confident(self) -> list[str]:
        """The operations likely enough to fetch for, most likely first (never a jump)."""
        ranked = sorted(self.probabilities().items(), key=lambda item: -item[1])
        return [op for op, p in ranked if p >= self.threshold and op != JUMP]
