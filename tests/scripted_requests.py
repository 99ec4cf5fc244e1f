"""A viewer's tile requests and a fresh viewing session, scripted for the prefetcher's tests."""

from wsi_blueprint.prefetch.markov import OperationModel
from wsi_blueprint.prefetch.sessions import Session
from wsi_blueprint.prefetch.viewport import Request

TILE = 256


def tile(t, col, row, scale=4):
    """The request for tile (`col`, `row`) of the level at `scale`, made at time `t`."""
    return Request(t, col * TILE * scale, row * TILE * scale, TILE * scale, TILE * scale, scale)


def new_session():
    """A viewer's session on a slide it has only just opened."""
    return Session("viewer", "A1.svs", OperationModel(), "full")
