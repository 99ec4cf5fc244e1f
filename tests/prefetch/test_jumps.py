"""Jumps: where a jump frame lands, and whether and where a zoom in after it is foreseen."""

from scripted_requests import TILE, new_session, tile
from wsi_blueprint.prefetch.jumps import jump_seen, move_ended, screen_at_landing, \
    zoom_after_jump, zoom_began, zooms_after_a_look
from wsi_blueprint.prefetch.viewport import Viewport


def jump(session, t, frames=2):
    """A jump of `frames` frames within one burst; whether the last foresaw a zoom."""
    foreseen = False
    for k in range(frames):
        first = tile(t + k * 0.1, 40 + 5 * k, 30)
        foreseen = jump_seen(session, first)
        session.burst.append(first)
    return foreseen


def test_a_jump_is_counted_once_however_many_frames_it_has():
    session = new_session()
    jump(session, 1.0, frames=3)
    assert session.jumps == 1


def test_a_zoom_is_foreseen_at_a_jump_until_the_jumps_have_mostly_gone_without_one():
    session = new_session()
    foreseen = []
    for n in range(4):
        session.burst = []
        foreseen.append(jump(session, 10.0 * n))
        move_ended(session, [tile(10.0 * n + 5, 1, 1)])  # a pan, not a zoom, followed each
        assert session.jump is None
    # Counting one more that zoomed: 1/1, 1/2, 1/3 (under half), 1/4.
    assert foreseen == [True, True, False, False]


def test_zooms_after_a_look_move_the_foresight_to_the_jumps_end():
    session = new_session()
    jump(session, 1.0)
    assert session.zoomed_after_look == 0
    session.burst = []  # the jump's burst ended: the viewer looked
    zoom_began(session)  # then zoomed in, in a burst of its own
    assert (session.zoomed_after_jump, session.zoomed_after_look) == (1, 1)
    session.burst = []
    jump(session, 10.0)
    assert zooms_after_a_look(session, session.burst)
    assert not zooms_after_a_look(session, [tile(20.0, 1, 1)])  # a burst without the jump


def test_a_zoom_at_once_counts_as_no_look():
    session = new_session()
    jump(session, 1.0)
    zoom_began(session)  # within the jump's burst
    assert (session.zoomed_after_jump, session.zoomed_after_look) == (1, 0)
    session.burst = []
    jump(session, 10.0)
    assert not zooms_after_a_look(session, session.burst)


def test_a_jump_lands_about_its_first_round_as_wide_as_the_widest_screen():
    session = new_session()
    session.widest = (1600, 900)
    screen = Viewport(0, 0, 4096, 3072, 4)  # known only in part: 1024 x 768 screen pixels
    landing = [tile(1.0, 40, 30), tile(1.0, 41, 30)]
    landed = screen_at_landing(session, screen, landing)
    assert (landed.width / 4, landed.height / 4) == (1600, 900)
    assert landed.centre == (41 * TILE * 4, 30.5 * TILE * 4)


def test_the_zoom_after_a_jump_is_half_the_screen_at_half_its_scale():
    screen = Viewport(0, 0, 6400, 3600, 4)
    zoom = zoom_after_jump(screen, (5000, 2000))
    assert (zoom.width, zoom.height, zoom.scale, zoom.centre) == (3200, 1800, 2, (5000, 2000))
    assert zoom_after_jump(Viewport(0, 0, 1600, 900, 1), (800, 450)) is None
