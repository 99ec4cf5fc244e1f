import os

import pytest

from wsi_blueprint.settings import SETTINGS, Settings


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
