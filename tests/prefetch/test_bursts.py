"""Reading a request into its session's burst: the quiet burst it ends, and what it begins."""

from scripted_requests import TILE, new_session, tile
from wsi_blueprint.prefetch.bursts import quiet_burst, read_request
from wsi_blueprint.prefetch.viewport import Viewport

GAP = 0.15


def settled(scale=4):
    """A session whose viewer settled on a screen of 6 x 4 tiles at `scale`, from tile (10, 10)."""
    session = new_session()
    x = y = 10 * TILE * scale
    session.viewport = Viewport(x, y, 6 * TILE * scale, 4 * TILE * scale, scale)
    return session


def read(session, request):
    """As the prefetcher reads a request: the burst it ends first, then the request."""
    quiet_burst(session, request, GAP)
    return read_request(session, request)


def test_a_request_after_a_quiet_gap_ends_the_burst_before_it():
    session = settled()
    assert quiet_burst(session, tile(1.0, 12, 11, 4), GAP) == []  # none yet
    read_request(session, tile(1.0, 12, 11, 4))
    assert quiet_burst(session, tile(1.05, 13, 11, 4), GAP) == []
    read_request(session, tile(1.05, 13, 11, 4))
    ended = quiet_burst(session, tile(2.0, 12, 12, 4), GAP)
    assert [r.time for r in ended] == [1.0, 1.05] and session.burst == []


def test_a_request_finer_than_the_screen_begins_a_zoom_frame_whose_round_joins_it():
    session = settled()
    begun = read(session, tile(1.0, 26, 24, 2))
    region, _ = begun.frame
    assert region.scale == 2 and begun.shown == session.viewport
    assert region.x <= 26 * TILE * 2 < region.x + region.width
    joined = read(session, tile(1.01, 27, 24, 2))
    assert joined.frame is None and len(session.frame) == 2
    # The burst so far is as fine as the frame: a request at its scale begins no other.
    assert read(session, tile(1.02, 25, 23, 2)).frame is None


def test_a_request_far_off_the_screen_at_its_scale_begins_a_jump_frame():
    session = settled()
    begun = read(session, tile(1.0, 60, 40, 4))
    assert begun.frame is None and begun.drag is None
    assert begun.jump is not None and begun.jump == session.moved
    assert begun.jump.x <= 60 * TILE * 4 < begun.jump.x + begun.jump.width
    # A pathologist jumps to look closer: until the session's jumps say otherwise, a zoom
    # in where it lands is foreseen.
    assert begun.zoom_at_jump


def test_a_request_just_past_an_edge_begins_a_drag_once_a_burst():
    session = settled()
    begun = read(session, tile(1.0, 16, 11, 4))  # the column right of the screen
    way, strip = begun.drag
    assert way == "pan_e" and strip.x >= session.viewport.x + session.viewport.width - TILE * 4
    assert read(session, tile(1.01, 16, 12, 4)).drag is None
    assert read(session, tile(2.0, 16, 12, 4)).drag is not None  # a new burst


def test_before_a_screen_is_known_nothing_begins():
    session = new_session()
    begun = read(session, tile(1.0, 3, 3, 8))
    assert begun.shown is None and begun.frame is None and begun.jump is None and \
        begun.drag is None
    assert session.finest == 8
