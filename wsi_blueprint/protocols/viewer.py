"""The viewer page `/view/<id>`: OpenSeadragon on the slide's DZI, served from our origin."""

import os
import time

from flask import Blueprint, g, render_template, url_for

from ..errors import WSIError
from ..viewer import assets
from .context import state

# Our own scripts, styles and images only; tiles come from this origin too.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data: blob:; connect-src 'self'; "
                           "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


class ViewerUnavailable(WSIError):
    status = 503
    code = "viewer_unavailable"


def view(slide_id: str):
    if not assets.installed():
        raise ViewerUnavailable("the viewer's OpenSeadragon files are not installed: run "
                                "`python -m wsi_blueprint.viewer.assets` once")
    index = state().library.open(slide_id).index
    # With access control on, the page was reached with a token in its URL; the page renews it.
    token, grant = g.get("wsi_url_token"), g.get("wsi_grant")
    page = render_template(
        "wsi_viewer.html", slide_id=slide_id, width=index.width, height=index.height,
        mpp=index.mpp[0] if index.mpp else None, objective_power=index.objective_power,
        tile_source=url_for(".dzi_descriptor", slide_id=slide_id), token=token,
        token_expires_in=int(grant.expires - time.time()) if grant else None)
    return page, 200, {"Content-Security-Policy": CONTENT_SECURITY_POLICY}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/view/<path:slide_id>", "viewer", view)


TEMPLATES = os.path.join(os.path.dirname(assets.__file__), "templates")
STATIC = assets.STATIC
