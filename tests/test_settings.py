import os

import pytest

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


def test_readme_documents_every_setting():
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    missing = [s.key for s in SETTINGS if f"`{s.key}`" not in readme]
    assert not missing, f"README lacks {missing}"


def test_a_burst_gap_must_be_positive():
    assert Settings.from_mapping({"WSI_PREFETCH_BURST_GAP": "0.25"}).prefetch_burst_gap == 0.25
    for bad in ("0", "-1"):
        with pytest.raises(ValueError, match="WSI_PREFETCH_BURST_GAP"):
            Settings.from_mapping({"WSI_PREFETCH_BURST_GAP": bad})


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
