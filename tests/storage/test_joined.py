"""Several objects read as one (storage.joined): each member at its own base, opened lazily."""

import pytest

from helpers import make_settings
from wsi_blueprint.errors import CorruptSlide, ObjectChanged
from wsi_blueprint.storage import open_store
from wsi_blueprint.storage.joined import JoinedReader, member_base, member_of


@pytest.fixture
def store(tmp_path, counters):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a").write_bytes(b"A" * 100)
    (tmp_path / "s" / "b").write_bytes(bytes(range(200)))
    return open_store(make_settings(store=f"file://{tmp_path}"), counters)


def joined(store):
    members = [info for info in store.list(prefix="s/").slides]
    return JoinedReader("s", members, "v1", store.open)


def test_member_bytes_are_read_at_their_base_and_members_open_on_first_read(store, counters):
    reader = joined(store)
    assert reader.size == member_base(1) + 200
    assert counters.get("store_requests") == 0  # nothing opened yet
    assert reader.read(member_base(1) + 10, 5) == bytes(range(10, 15))
    assert counters.get("store_requests") == 1
    assert reader.read(0, 3) == b"AAA"
    assert member_of(member_base(1) + 7) == (1, 7)


def test_reads_rounded_past_a_member_end_read_zeros_without_a_request(store, counters):
    reader = joined(store)
    assert reader.read(90, 20) == b"A" * 10 + bytes(10)
    assert counters.get("store_requests") == 1
    with pytest.raises(CorruptSlide):
        reader.read(member_base(1) - 10, 20)  # into the next member: not one member's bytes


def test_a_member_replaced_since_the_listing_is_a_changed_object(store, tmp_path):
    reader = joined(store)
    (tmp_path / "s" / "b").write_bytes(b"x" * 300)
    assert reader.read(0, 1) == b"A"
    with pytest.raises(ObjectChanged):
        reader.read(member_base(1), 1)
