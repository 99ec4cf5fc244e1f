"""Clinical-context rules: when a slide opens, which other slides of the case to warm.

    rules:
      - name: ihc-beside-he
        when: {stain: "H&E"}                  # the opened slide's stain
        fetch:
          from: same_case                     # same_case | prior_case
          stains_except: ["H&E"]             # or stains: [...]; omitted: every slide
          what: [metadata, thumbnail, overview]
      - name: prior-case-on-follow-up
        when: {case_type: follow-up}
        fetch: {from: prior_case, what: [metadata, thumbnail]}

A file with an error is refused when the server starts, with the rule and the key at fault.
"""

import dataclasses

import yaml

WHEN_KEYS = {"stain", "case_type"}
FETCH_KEYS = {"from", "stains", "stains_except", "what"}
SOURCES = {"same_case", "prior_case"}
WHAT = {"metadata", "thumbnail", "overview"}


class RulesError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    when: dict[str, str]
    source: str
    stains: tuple[str, ...] | None
    stains_except: tuple[str, ...]
    what: tuple[str, ...]

    def matches(self, stain: str | None, case_type: str) -> bool:
        facts = {"stain": stain, "case_type": case_type}
        return all(facts[key] == value for key, value in self.when.items())

    def wants(self, stain: str | None) -> bool:
        if self.stains is not None and stain not in self.stains:
            return False
        return stain not in self.stains_except


def _strings(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RulesError(f"{where}: expected a list of strings")
    return tuple(value)


def parse_rules(text: str, origin: str = "rules") -> list[Rule]:
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RulesError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("rules", []), list):
        raise RulesError(f"{origin}: expected a mapping with a 'rules' list")
    rules = []
    for number, entry in enumerate(document.get("rules", []), 1):
        where = f"{origin}: rule {number}"
        if not isinstance(entry, dict):
            raise RulesError(f"{where}: expected a mapping")
        name = entry.get("name", f"rule-{number}")
        where = f"{origin}: rule {name!r}"
        unknown = set(entry) - {"name", "when", "fetch"}
        if unknown:
            raise RulesError(f"{where}: unknown keys {sorted(unknown)}")
        when, fetch = entry.get("when", {}), entry.get("fetch")
        if not isinstance(when, dict) or set(when) - WHEN_KEYS:
            raise RulesError(f"{where}: 'when' takes only {sorted(WHEN_KEYS)}")
        if not isinstance(fetch, dict) or set(fetch) - FETCH_KEYS:
            raise RulesError(f"{where}: 'fetch' is required and takes only {sorted(FETCH_KEYS)}")
        if fetch.get("from") not in SOURCES:
            raise RulesError(f"{where}: 'fetch.from' must be one of {sorted(SOURCES)}")
        what = _strings(fetch.get("what", ["metadata"]), f"{where}: 'fetch.what'")
        if set(what) - WHAT:
            raise RulesError(f"{where}: 'fetch.what' takes only {sorted(WHAT)}")
        rules.append(Rule(
            name=str(name), when={k: str(v) for k, v in when.items()}, source=fetch["from"],
            stains=_strings(fetch["stains"], f"{where}: 'fetch.stains'")
            if "stains" in fetch else None,
            stains_except=_strings(fetch.get("stains_except", []),
                                   f"{where}: 'fetch.stains_except'"),
            what=what))
    return rules


def load_rules(path: str) -> list[Rule]:
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            return parse_rules(f.read(), path)
    except OSError as exc:
        raise RulesError(f"{path}: cannot read the prefetch rules: {exc.strerror}") from None
