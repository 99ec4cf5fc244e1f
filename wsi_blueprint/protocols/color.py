"""The colour mode a request asks for: `?color=`, else the blueprint's WSI_COLOR."""

from flask import request

from ..reader import color_mode
from .context import state


def requested_color() -> str:
    """The mode's name, checked (400 for an unknown one); the reader resolves it per slide."""
    return color_mode(request.args.get("color") or state().settings.color)
