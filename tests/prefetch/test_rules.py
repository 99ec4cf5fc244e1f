import pytest

from wsi_blueprint.app import create_app
from wsi_blueprint.prefetch.rules import RulesError, parse_rules


def test_the_shipped_rules_parse():
    rules = parse_rules(open("conf/prefetch-rules.yaml").read())
    he = rules[0]
    assert he.matches("H&E", "") and not he.matches("Ki-67", "")
    assert he.wants("Ki-67") and not he.wants("H&E")


@pytest.mark.parametrize("text,message", [
    ("rules: [{name: a, when: {colour: red}, fetch: {from: same_case}}]", "'when' takes only"),
    ("rules: [{name: a, fetch: {from: elsewhere}}]", "'fetch.from' must be one of"),
    ("rules: [{name: a, fetch: {from: same_case, what: [everything]}}]", "'fetch.what'"),
    ("rules: [{name: a, fetch: {from: same_case, stains: H&E}}]", "list of strings"),
    ("rules: [{name: a, fetch: {from: same_case}, then: x}]", "unknown keys ['then']"),
    ("rules: [{name: a}]", "'fetch' is required"),
    ("rules: {a: 1}", "a 'rules' list"),
    ("rules: [a: b: c]", "not valid YAML"),
])
def test_rule_errors_name_the_rule_and_the_key(text, message):
    with pytest.raises(RulesError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        parse_rules(text, "rules.yaml")


def test_a_rules_file_with_errors_stops_the_server_at_start(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules: [{name: broken, fetch: {from: nowhere}}]")
    with pytest.raises(RulesError, match="rule 'broken'"):
        create_app({"WSI_STORE": f"file://{tmp_path}", "WSI_PREFETCH_RULES": str(bad)})
    with pytest.raises(RulesError, match="cannot read"):
        create_app({"WSI_STORE": f"file://{tmp_path}",
                    "WSI_PREFETCH_RULES": str(tmp_path / "missing.yaml")})
