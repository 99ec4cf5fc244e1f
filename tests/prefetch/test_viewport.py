"""Viewport inference and the operation model, on scripted request streams."""

from wsi_blueprint.prefetch.markov import OperationModel
from wsi_blueprint.prefetch.viewport import (JUMP, PAN_E, PAN_N, PAN_S, PAN_W, ZOOM_IN, ZOOM_OUT,
                                             Request, Viewport, bounding_box, centred_on,
                                             drag_strip, follow, moved_to, next_viewport,
                                             operation, strides_after, under)


def screen(t, x, y, scale, cols=4, rows=3, tile=256):
    """The tile requests a viewer makes for a screen of cols x rows tiles at (x, y)."""
    return [Request(t, x + c * tile * scale, y + r * tile * scale, tile * scale, tile * scale,
                    scale) for r in range(rows) for c in range(cols)]


def test_a_bursts_area_is_its_requests_at_the_finest_scale():
    requests = screen(0.1, 4096, 4096, 4) + screen(0.0, 0, 0, 16)[:1]  # coarse ones last
    view = bounding_box(requests)
    assert (view.x, view.y, view.width, view.height, view.scale) == (4096, 4096, 4096, 3072, 4)


def test_operations():
    base = Viewport(1000, 1000, 1000, 800, 4)
    assert operation(base, base.shifted(500, 0)) == PAN_E
    assert operation(base, base.shifted(-500, 30)) == PAN_W
    assert operation(base, base.shifted(0, 400)) == PAN_S
    assert operation(base, base.shifted(20, -400)) == PAN_N
    assert operation(base, base.zoomed(0.5)) == ZOOM_IN
    assert operation(base, base.zoomed(2)) == ZOOM_OUT
    assert operation(base, base.shifted(9000, 0)) == JUMP
    assert operation(base, base.shifted(10, 10)) is None


def test_next_viewport_follows_the_operation():
    base = Viewport(1000, 1000, 1000, 800, 4)
    assert next_viewport(base, PAN_E).x == 1500
    assert next_viewport(base, PAN_E, (256, 0)).x == 1256
    assert next_viewport(base, ZOOM_IN).scale == 2 and next_viewport(base, ZOOM_IN).width == 500
    assert next_viewport(base, JUMP) is None


def test_a_repeated_pan_keeps_its_whole_displacement():
    base = Viewport(1000, 1000, 1000, 800, 4)
    diagonal = (300, 200)  # mostly east, partly south
    assert next_viewport(base, PAN_E, diagonal, last_op=PAN_E) == base.shifted(300, 200)
    assert next_viewport(base, PAN_E, diagonal, last_op=PAN_S) == base.shifted(300, 0)
    assert next_viewport(base, PAN_S, diagonal, last_op=PAN_E) == base.shifted(0, 200)


def test_a_pan_across_the_last_one_steps_as_the_last_pan_along_its_axis_did():
    """A serpentine sweep turning back along its rows: after a step south, the pan west moves
    as far as the pans east did, not half a screen."""
    base = Viewport(1000, 1000, 1000, 800, 4)
    strides = strides_after((0.0, 0.0), PAN_E, (850, 0))
    strides = strides_after(strides, PAN_S, (0, 680))
    assert strides == (850, 680)
    assert strides_after(strides, JUMP, (9000, 0)) == strides
    assert strides_after(strides, ZOOM_IN, (100, 100)) == (0, 0)  # level-0 pixels: stale
    assert next_viewport(base, PAN_W, (0, 680), last_op=PAN_S, strides=strides) == \
        base.shifted(-850, 0)
    assert next_viewport(base, PAN_W, (0, 680), last_op=PAN_S) == base.shifted(-500, 0)
    # The current step's own part along the axis still comes first.
    assert next_viewport(base, PAN_W, (-300, 680), last_op=PAN_S, strides=strides) == \
        base.shifted(-300, 0)


def test_a_pan_strip_moves_the_screen_just_enough_to_show_it():
    screen_now = Viewport(1000, 1000, 1000, 800, 4)
    strip_east = Viewport(2000, 1000, 300, 800, 4)  # what a pan east uncovers
    assert follow(screen_now, strip_east) == screen_now.shifted(300, 0)
    strip_north_west = Viewport(800, 900, 1000, 100, 4)
    assert follow(screen_now, strip_north_west) == screen_now.shifted(-200, -100)
    inside = Viewport(1200, 1200, 100, 100, 4)  # a tile filled in: the screen stays
    assert follow(screen_now, inside) == screen_now
    zoomed = Viewport(1200, 1200, 500, 400, 2)
    assert follow(screen_now, zoomed) == zoomed  # another scale: the burst is the screen
    assert follow(None, strip_east) == strip_east


def test_a_strip_taller_than_the_screen_makes_it_taller_not_narrower():
    """A pan east whose strip reaches a tile row lower than the screen did, the tiles beside
    that row already loaded: the screen moves and grows to the strip's height, and keeps its
    width (taken whole, the strip made the screen a third as wide)."""
    screen_now = Viewport(1000, 1000, 1000, 800, 4)
    strip = Viewport(2000, 1000, 300, 1024, 4)
    assert follow(screen_now, strip) == Viewport(1300, 1000, 1000, 1024, 4)


def test_a_burst_that_travelled_leaves_the_screen_its_size_where_it_ended():
    """A jump animated at the screen's scale (OpenSeadragon's `panTo`) asks for tiles all along
    its way: the screen keeps its size at the end the burst's last request lies towards, not
    the way's five screens across (which every frame foreseen from it was as wide as)."""
    screen_now = Viewport(1000, 1000, 1000, 800, 4)
    way = Viewport(1000, 1000, 5000, 900, 4)  # east, a tile row lower on the way
    assert follow(screen_now, way, (5800, 1500)) == Viewport(5000, 1000, 1000, 900, 4)
    back = Viewport(-3000, 1000, 5000, 800, 4)  # west
    assert follow(screen_now, back, (-2800, 1300)) == Viewport(-3000, 1000, 1000, 800, 4)
    assert operation(screen_now, follow(screen_now, way, (5800, 1500))) == JUMP
    # A screen a worker knew in part still grows to what a later burst shows of it.
    wider = Viewport(1000, 1000, 1900, 800, 4)
    assert follow(screen_now, wider, (2800, 1400)).width == 1900


def test_the_level_under_the_screen_is_no_zoom_out():
    """A blending viewer asks for the level under its screen with every screen; a worker that
    got only those requests of a burst sees the screen's area one level coarser. A zoom out
    asks for a screen twice as wide."""
    shown = Viewport(4096, 4096, 4096, 3072, 4)
    blended = bounding_box(screen(1.0, 4096, 4096, 8, cols=2, rows=2))
    assert under(shown, blended)
    strip = bounding_box(screen(1.0, 8192, 4096, 8, cols=1, rows=2))  # under a pan's strip
    assert under(shown, strip)
    zoom_out = shown.zoomed(2.0)
    assert not under(shown, zoom_out) and operation(shown, zoom_out) == ZOOM_OUT
    assert not under(shown, Viewport(40000, 4096, 4096, 3072, 8))  # elsewhere
    assert not under(shown, bounding_box(screen(1.0, 4096, 4096, 16, cols=1, rows=1)))


def test_momentum_for_a_sweep_then_learned_transitions_with_a_threshold():
    model = OperationModel(history=5, threshold=0.7)
    assert model.confident() == []
    model.record(ZOOM_IN)
    assert model.confident() == []  # a zoom's next frame is the engine's, within the burst
    model.record(PAN_E)
    assert model.confident() == []  # a lone pan after a zoom: no momentum yet
    model.record(PAN_E)
    assert model.confident() == [PAN_E]  # a sweep: one transition E -> E, momentum says E
    model.record(PAN_E)
    assert model.probabilities() == {PAN_E: 1.0}  # two transitions E -> E: learnt
    for op in (ZOOM_IN, PAN_E, ZOOM_IN):  # the last 5: E E ZOOM_IN E ZOOM_IN
        model.record(op)
    assert model.confident() == []  # after ZOOM_IN came E once: too little to go on
    model.record(PAN_E)  # E ZOOM_IN E ZOOM_IN E: after E came ZOOM_IN twice
    assert model.confident() == [ZOOM_IN]
    model.record(JUMP)
    assert model.confident() == []  # a jump cannot be foreseen, nor what follows it
    model.record(PAN_W)  # a lone pan after a jump
    assert model.confident() == []
    model.record(PAN_S)  # a pan after a pan: the turn of a sweep goes on
    assert model.confident() == [PAN_S]


def test_a_pan_across_a_sweep_predicts_the_way_back():
    """Screening: east along a row, a step south, then west along the next row. The pan
    across a sweep of two or more pans predicts the way back; five operations of history
    never hold the previous turn's transitions, so only this prior can foresee the turn. The
    way on across is not predicted: a drag that goes on down gets its strip fetched at its
    first request."""
    model = OperationModel(history=5, threshold=0.7)
    for op in (PAN_E, PAN_E, PAN_E, PAN_E):
        model.record(op)
    assert model.confident() == [PAN_E]
    model.record(PAN_S)  # the row's end: a step down
    assert model.confident() == [PAN_W]
    model.record(PAN_W)  # back along the next row: momentum, the sweep goes on
    assert model.confident() == [PAN_W]
    for op in (PAN_W, PAN_W, PAN_W, PAN_S):
        model.record(op)
    assert model.confident() == [PAN_E]
    # Not a sweep: one pan east, then one north. Momentum, as before.
    model = OperationModel(history=5, threshold=0.7)
    for op in (ZOOM_IN, PAN_E, PAN_N):
        model.record(op)
    assert model.confident() == [PAN_N]
    # Turning right back is no turn to a new row: momentum.
    model = OperationModel(history=5, threshold=0.7)
    for op in (PAN_E, PAN_E, PAN_W):
        model.record(op)
    assert model.confident() == [PAN_W]


def test_uncertain_predictions_are_not_fetched():
    model = OperationModel(history=5, threshold=0.7)
    for op in (PAN_E, PAN_N, PAN_E, PAN_S, PAN_E):  # after E: N once, S once
        model.record(op)
    assert model.probabilities() == {PAN_N: 0.5, PAN_S: 0.5}
    assert model.confident() == []
    model.record(JUMP)
    assert model.confident() == []  # a jump cannot be foreseen


def test_a_request_beyond_an_edge_of_the_screen_is_a_drag_into_the_strip_past_it():
    shown = Viewport(1000, 1000, 800, 400, 2.0)
    east = drag_strip(shown, Request(0, 1800, 1100, 128, 128, 2.0))
    assert east == (PAN_E, Viewport(1800, 1000, 400, 400, 2.0))
    assert drag_strip(shown, Request(0, 900, 1100, 128, 128, 2.0)) == (
        PAN_W, Viewport(600, 1000, 400, 400, 2.0))
    assert drag_strip(shown, Request(0, 1200, 1400, 128, 128, 2.0)) == (
        PAN_S, Viewport(1000, 1400, 800, 200, 2.0))
    assert drag_strip(shown, Request(0, 1200, 900, 128, 128, 2.0)) == (
        PAN_N, Viewport(1000, 800, 800, 200, 2.0))
    # At a corner, the way it is farther beyond, in screens.
    assert drag_strip(shown, Request(0, 1800, 1450, 128, 128, 2.0))[0] == PAN_S


def test_requests_on_the_screen_far_off_or_at_another_scale_are_no_drag():
    shown = Viewport(1000, 1000, 800, 400, 2.0)
    assert drag_strip(shown, Request(0, 1700, 1100, 128, 128, 2.0)) is None  # on the screen
    assert drag_strip(shown, Request(0, 2300, 1100, 128, 128, 2.0)) is None  # a jump
    assert drag_strip(shown, Request(0, 1800, 1100, 256, 256, 4.0)) is None  # coarser
    assert drag_strip(shown, Request(0, 1800, 1100, 64, 64, 1.0)) is None  # a zoom


def test_a_request_farther_off_than_a_drag_reaches_moves_the_screen_just_far_enough_to_show_it():
    shown = Viewport(1000, 1000, 800, 400, 2.0)  # a drag reaches to x 600-2200, y 800-1600
    assert moved_to(shown, Request(0, 2300, 1100, 128, 128, 2.0)) == \
        Viewport(1628, 1000, 800, 400, 2.0)
    assert moved_to(shown, Request(0, 1200, 1700, 128, 128, 2.0)) == \
        Viewport(1000, 1428, 800, 400, 2.0)
    assert moved_to(shown, Request(0, 1700, 1100, 128, 128, 2.0)) is None  # on the screen
    assert moved_to(shown, Request(0, 1800, 1100, 128, 128, 2.0)) is None  # a drag
    assert moved_to(shown, Request(0, 4000, 1100, 64, 64, 1.0)) is None  # a zoom


def test_a_coarser_request_more_than_a_screen_off_moves_the_screen_there_zoomed_out():
    """The viewer zoomed out (over levels it had loaded: the server saw few requests, or none)
    and moved: the screen is as many screen pixels at the request's scale, moved just far
    enough to show it. Coarser requests nearer are the level under the screen or a pan's."""
    shown = Viewport(1000, 1000, 800, 400, 2.0)  # a screen's reach: x 200-2600, y 600-1800
    assert moved_to(shown, Request(0, 4000, 1100, 256, 256, 4.0)) == \
        Viewport(2656, 800, 1600, 800, 4.0)
    assert moved_to(shown, Request(0, 1200, 1100, 256, 256, 4.0)) is None  # under the screen
    assert moved_to(shown, Request(0, 2200, 1100, 256, 256, 4.0)) is None  # a pan's


def test_a_drags_strip_is_as_deep_as_the_last_pan_along_its_axis_at_most_a_screen():
    shown = Viewport(1000, 1000, 800, 400, 2.0)
    beyond_east = Request(0, 1800, 1100, 128, 128, 2.0)
    assert drag_strip(shown, beyond_east, strides=(240.0, 0.0))[1] == \
        Viewport(1800, 1000, 240, 400, 2.0)
    assert drag_strip(shown, beyond_east, strides=(700.0, 0.0))[1].width == 700
    assert drag_strip(shown, beyond_east, strides=(1100.0, 0.0))[1].width == 800
    # A sweep's step down a row, most of a screen: the next row's strip is fetched whole.
    assert drag_strip(shown, Request(0, 1200, 1400, 128, 128, 2.0), strides=(700.0, 340.0)
                      )[1] == Viewport(1000, 1400, 800, 340, 2.0)
    assert drag_strip(shown, Request(0, 1200, 1400, 128, 128, 2.0), strides=(240.0, 0.0))[1] \
        == Viewport(1000, 1400, 800, 200, 2.0)  # no pan along y yet: half a screen


def test_a_foreseen_screen_keeps_its_centre_on_the_slide():
    """Moved back just far enough that its centre is on the slide, at its size and scale; one
    whose centre is on the slide already stays where it is."""
    beyond = Viewport(3800, -900, 1000, 600, 2)  # centre (4300, -600) off a 4000 x 3000 slide
    assert centred_on(beyond, 4000, 3000) == Viewport(3500, -300, 1000, 600, 2)
    inside = Viewport(-400, 2700, 1000, 600, 2)  # centre (100, 3000): on the bottom edge
    assert centred_on(inside, 4000, 3000) == inside
