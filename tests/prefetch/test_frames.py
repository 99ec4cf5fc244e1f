"""Zoom frames: where a frame lies, how much of it is fetched at once, where the next one lies."""

import pytest

from scripted_requests import TILE, new_session, tile
from wsi_blueprint.prefetch.frames import FRAME_REACH, LEARNED_AFTER, ZOOM_GOES_ON, \
    frame_reach, goes_on, next_zoom_frame, zoom_frame
from wsi_blueprint.prefetch.viewport import Viewport


def test_a_frame_holds_the_widest_screens_level_pixels_about_its_first_requests():
    screens = [Viewport(0, 0, 6144, 4096, 4), Viewport(0, 0, 4096, 4096, 4)]  # 1536 x 1024
    first = [tile(1.0, 20, 10, 2), tile(1.0, 21, 10, 2)]
    frame = zoom_frame(screens, first)
    assert (frame.width / frame.scale, frame.height / frame.scale) == (1536, 1024)
    assert frame.centre == (21 * TILE * 2, 10.5 * TILE * 2)
    assert zoom_frame(screens, [tile(1.0, 3, 3, 0.5)]) is None  # finer than level 0


def test_a_first_frame_is_fetched_wider_until_the_sessions_screens_bound_it():
    session = new_session()
    shown = Viewport(0, 0, 6400, 3600, 4)  # 1600 x 900 screen pixels
    session.widest = (1600, 900)
    assert frame_reach(session, shown) == FRAME_REACH
    session.zooms = LEARNED_AFTER  # a viewer whose screens all hold as many level pixels
    assert frame_reach(session, shown) == 1.0
    session.widest = (2000, 900)  # one that showed a quarter more across once
    assert frame_reach(session, shown) == pytest.approx(1.25)


def test_a_finer_frame_soon_after_a_zoom_in_goes_on_with_it():
    session = new_session()
    session.zoomed_in = 10.0
    assert goes_on(session, tile(10.0 + ZOOM_GOES_ON / 2, 5, 5, 2))
    assert not goes_on(session, tile(10.0 + ZOOM_GOES_ON * 2, 5, 5, 2))


def test_the_next_frame_is_half_the_scale_drawn_out_along_the_last_step():
    frame = Viewport(4000, 4000, 3200, 1800, 2)
    still = next_zoom_frame(frame, frame.centre)  # a zoom about the frame's own centre
    assert (still.scale, still.width, still.height, still.centre) == (1, 1600, 900, frame.centre)
    cx, cy = frame.centre
    stepped = next_zoom_frame(frame, (cx - 1000, cy + 500))  # came 1000 right, 500 up
    assert (stepped.x, stepped.y) == (still.x, still.y - 500)
    assert (stepped.width, stepped.height) == (1600 + 1000, 900 + 500)
    assert next_zoom_frame(Viewport(0, 0, 1600, 900, 1), (800, 450)) is None  # level 0 shown
