"""A Markov model over a session's last operations: how sure are we of the next one?

Transitions are counted over the session's last `history` operations. The next operation's
probability is the share of transitions from the current one that led to it; only those at or
above the confidence threshold are worth fetching for. One transition is too little evidence
(it would be certain at once); until there are `EVIDENCE`, two priors stand in for a sweep
under way:

- momentum: a pan that follows a pan is likely to be followed by the same pan;
- the turn of a sweep: a pan across a sweep of at least two pans is the step to the next row
  of a serpentine read (a screening read: east along a row, down, west along the next), whose
  next pan runs back along the row. The history is too short to hold the previous turn's
  transitions, so the model cannot learn this. The way on across is not fetched for: its bytes
  went unused, and a drag that does go on gets its strip at its first request (the engine).

A lone pan after a zoom or a jump predicts nothing yet: momentum from it readied no more of the
explore sessions' pan tiles. A zoom's next frame is foreseen within its burst (see the engine).
The measurements behind these choices are in docs/design/prefetch.md.
"""

import collections

from .viewport import JUMP, PAN_E, PAN_N, PAN_S, PAN_W, PANS

EVIDENCE = 2  # transitions from the current operation needed to trust their shares
BACK = {PAN_E: PAN_W, PAN_W: PAN_E, PAN_N: PAN_S, PAN_S: PAN_N}


class OperationModel:
    def __init__(self, history: int = 5, threshold: float = 0.7):
        self.history = history
        self.threshold = threshold
        self.operations: collections.deque[str] = collections.deque(maxlen=history)

    def record(self, op: str) -> None:
        self.operations.append(op)

    def probabilities(self) -> dict[str, float]:
        """P(next operation) given the last one, from the transitions in the history; until
        there are enough, a prior's move, certain enough to fetch for."""
        ops = list(self.operations)
        if not ops:
            return {}
        current = ops[-1]
        following = [b for a, b in zip(ops, ops[1:]) if a == current]
        if len(following) < EVIDENCE:
            return self._prior(ops)
        counts = collections.Counter(following)
        return {op: n / len(following) for op, n in counts.items()}

    @staticmethod
    def _prior(ops: list[str]) -> dict[str, float]:
        """What a sweep under way makes likely, before the transitions say (see above)."""
        current = ops[-1]
        if current not in PANS or len(ops) < 2 or ops[-2] not in PANS:
            return {}
        sweep = ops[-2]
        if len(ops) >= 3 and ops[-3] == sweep and current not in (sweep, BACK[sweep]):
            return {BACK[sweep]: 1.0}  # the turn: back along the row
        return {current: 1.0}  # momentum

    def confident(self) -> list[str]:
        """The operations likely enough to fetch for, most likely first (never a jump)."""
        ranked = sorted(self.probabilities().items(), key=lambda item: -item[1])
        return [op for op, p in ranked if p >= self.threshold and op != JUMP]
