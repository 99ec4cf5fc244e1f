import ast
import os
import re

import pytest

from wsi_blueprint import serving, settings_doc
from wsi_blueprint.settings import SETTINGS, SettingError, Settings


def test_defaults_are_the_embedded_local_store_without_memcached():
    settings = Settings.from_mapping({})
    assert settings.store == "file://" + os.path.abspath("slides")
    assert settings.memcached_servers() == [] and settings.block_size == 256 * 1024
    assert settings.prefetch is True and settings.cors_origins == "*"


def test_values_are_parsed_with_units_and_switches():
    settings = Settings.from_mapping({"WSI_BLOCK_SIZE": "1M", "WSI_PREFETCH": "off",
                                      "WSI_TILE_CACHE_BYTES": "1.5G",
                                      "WSI_MEMCACHED": "a:1, b ,c:3"})
    assert settings.block_size == 1 << 20 and settings.prefetch is False
    assert settings.tile_cache_bytes == 3 << 29
    assert settings.memcached_servers() == [("a", 1), ("b", 11211), ("c", 3)]


def test_a_bad_value_names_its_key():
    with pytest.raises(ValueError, match="WSI_STORE_RETRIES"):
        Settings.from_mapping({"WSI_STORE_RETRIES": "many"})


CONFIGURATION_PAGE = os.path.join(os.path.dirname(__file__), "..", "docs", "configuration.md")


def test_the_configuration_page_is_the_generated_one():
    with open(CONFIGURATION_PAGE, encoding="utf-8") as f:
        page = f.read()
    assert page == settings_doc.markdown(), (
        "docs/configuration.md is out of date: run "
        "`python -m wsi_blueprint.settings_doc docs/configuration.md`")


def test_the_generated_page_names_every_setting_with_its_default():
    page = settings_doc.markdown()
    for setting in SETTINGS:
        row = next((line for line in page.splitlines() if line.startswith(f"| `{setting.key}` |")),
                   None)
        assert row is not None, f"no row for {setting.key}"
        assert row.endswith(f"| `{settings_doc.shown_default(setting)}` |") or \
            row.endswith("| (empty) |")


def test_defaults_are_shown_as_they_are_written():
    by_key = {s.key: s for s in SETTINGS}
    shown = {key: settings_doc.shown_default(by_key[key]) for key in (
        "WSI_BLOCK_SIZE", "WSI_PREFETCH_READ_SIZE", "WSI_PREFETCH", "WSI_SHOW_LABEL_AND_MACRO",
        "WSI_MEMCACHED", "WSI_STORE", "WSI_MAX_OUTPUT_AREA")}
    assert shown == {"WSI_BLOCK_SIZE": "256K", "WSI_PREFETCH_READ_SIZE": "1M",
                     "WSI_PREFETCH": "on", "WSI_SHOW_LABEL_AND_MACRO": "off",
                     "WSI_MEMCACHED": "(empty)", "WSI_STORE": "file://$PWD/slides",
                     "WSI_MAX_OUTPUT_AREA": "40000000"}
    # Each shown default parses back to the default itself.
    for key in ("WSI_BLOCK_SIZE", "WSI_PREFETCH_READ_SIZE", "WSI_PREFETCH",
                "WSI_SHOW_LABEL_AND_MACRO", "WSI_MAX_OUTPUT_AREA"):
        assert by_key[key].parse(shown[key]) == by_key[key].default


def test_the_generator_writes_the_page_to_a_path(tmp_path):
    target = tmp_path / "configuration.md"
    assert settings_doc.main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == settings_doc.markdown()
    assert settings_doc.main(["--bogus"]) == 2


def test_a_burst_gap_must_be_positive():
    assert Settings.from_mapping({"WSI_PREFETCH_BURST_GAP": "0.25"}).prefetch_burst_gap == 0.25
    for bad in ("0", "-1"):
        with pytest.raises(ValueError, match="WSI_PREFETCH_BURST_GAP"):
            Settings.from_mapping({"WSI_PREFETCH_BURST_GAP": bad})


def test_the_page_names_the_server_process_keys_with_their_defaults():
    """The keys serving.py reads from the environment, with the defaults it falls back to."""
    with open(serving.__file__, encoding="utf-8") as f:
        read = dict(re.findall(r'env\.get\("([A-Z_]+)", ([^)]+)\)', f.read()))
    assert {"WSI_BIND", "WEB_CONCURRENCY", "WSI_LOG_FORMAT"} <= set(read)
    shown = {key: default for key, _, default in settings_doc.PROCESS_SETTINGS}
    assert set(read) | {serving.METRICS_DIR} <= set(shown)
    for key, expression in read.items():
        try:
            literal = ast.literal_eval(expression)
        except ValueError:
            continue  # computed at start (one worker per core)
        assert shown[key] == f"`{literal}`", key
    page = settings_doc.markdown()
    assert all(f"| `{key}` |" in page for key in shown)


def test_every_default_is_allowed_and_every_rule_is_worded():
    Settings.from_mapping({})
    for setting in SETTINGS:
        assert setting.allowed.text, setting.key


@pytest.mark.parametrize("key, good, bad", [
    ("WSI_BLOCK_SIZE", ["4K", "64K", "64M"], ["0", "-256K", "2K", "300K", "128M", "many"]),
    ("WSI_JPEG_QUALITY", ["1", "100"], ["0", "101", "500"]),
    ("WSI_CPU_THREADS", ["0", "8"], ["-3"]),
    ("WSI_AUTH_SECRET", ["k1:0123456789abcdef", "k2:0123456789abcdef,k1:fedcba9876543210"],
     ["k1:0123456789abcde", "0123456789abcdef0123", "k1:0123456789abcdef,:0123456789abcdef"]),
    ("WSI_STORE", ["file:///srv/slides", "s3://bucket/prefix", "https://host/base/"],
     ["slides", "s3://", "ftp://host/x", "file://relative/dir"]),
    ("WSI_MEMCACHED", ["a:1, b ,c:3", "127.0.0.1:11211"], ["a:0", "a:x", ":11211"]),
    ("WSI_CORS_ORIGINS", ["*", "https://a.example, http://b.example:8080"], ["a.example"]),
    ("WSI_PREFETCH_CONFIDENCE", ["0", "0.7", "1"], ["1.5", "-0.1"]),
])
def test_each_value_is_checked_against_its_allowed_values(key, good, bad):
    for value in good:
        Settings.from_mapping({key: value})
    for value in bad:
        with pytest.raises(SettingError, match=f"^{key}.* is not allowed: expected "):
            Settings.from_mapping({key: value})


def test_a_read_size_must_be_a_multiple_of_the_block_size():
    with pytest.raises(SettingError, match="^WSI_PREFETCH_READ_SIZE='256K' is not allowed"):
        Settings.from_mapping({"WSI_BLOCK_SIZE": "1M", "WSI_PREFETCH_READ_SIZE": "256K"})


def test_a_wrong_secret_is_never_shown():
    with pytest.raises(SettingError) as raised:
        Settings.from_mapping({"WSI_AUTH_SECRET": "k1:hunter2"})
    assert "hunter2" not in str(raised.value) and raised.value.key == "WSI_AUTH_SECRET"


def test_the_default_read_size_follows_a_larger_block_size():
    assert Settings.from_mapping({"WSI_BLOCK_SIZE": "4M"}).prefetch_read_size == 4 << 20
    assert Settings.from_mapping({"WSI_BLOCK_SIZE": "64K"}).prefetch_read_size == 1 << 20
