"""Clinical-context rules: which other slides of a case (or of the prior case) to warm when a
session opens a slide."""

from typing import Callable

from .context import SIDECAR, CaseContext, CaseContextProvider
from .rules import Rule


class CaseRules:
    def __init__(self, rules: list[Rule], context: CaseContextProvider | None,
                 list_ids: Callable[[str, int], list[str]]):
        """`list_ids(prefix, limit)` lists slide ids of the store under a prefix."""
        self.rules = list(rules)
        self.context = context
        self.list_ids = list_ids

    @property
    def active(self) -> bool:
        return bool(self.rules) and self.context is not None

    def targets(self, opened: str) -> list[tuple[Rule, str]]:
        """(rule, slide id) for every slide a rule asks for, given the slide opened."""
        context = self.context(opened)
        if context is None:
            return []
        stain = context.stain_of(opened)
        return [(rule, target) for rule in self.rules if rule.matches(stain, context.case_type)
                for target in self._targets(rule, context, opened)]

    def _targets(self, rule: Rule, context: CaseContext, opened: str) -> list[str]:
        if rule.source == "same_case":
            return [sid for sid, stain in context.stains.items()
                    if sid != opened and rule.wants(stain)]
        if context.prior_case is None:
            return []
        prior = self.context(context.prior_case + SIDECAR)  # any id in the folder will do
        if prior is not None and prior.stains:
            return [sid for sid, stain in prior.stains.items() if rule.wants(stain)]
        return self.list_ids(context.prior_case, 50)
