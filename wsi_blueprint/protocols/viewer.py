"""The viewer page `/view/<id>` (OpenSeadragon on the slide's DZI, served from our origin), and
what every HTML page shares: its Content Security Policy and its error page."""

import os
import posixpath
import time

from flask import Blueprint, g, render_template, request, url_for

from ..errors import WSIError
from ..reader import color_mode
from ..viewer import assets
from .context import state
from .errors import handle_wsi_error
from .rest import PATIENT_IMAGES, VENDORS, shown_properties

PAGE_ENDPOINTS = {"viewer", "gallery"}


def content_security_policy() -> str:
    """Our own scripts, styles and images only; tiles come from this origin too. Who may frame
    the page is the operator's choice (WSI_FRAME_ANCESTORS)."""
    ancestors = " ".join(state().settings.frame_ancestors.split()) or "'none'"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {ancestors}")


def html_page(body: str, status: int = 200):
    return body, status, {"Content-Type": "text/html; charset=utf-8",
                          "Content-Security-Policy": content_security_policy()}


def _asks_for_html() -> bool:
    """A browser navigating names text/html; API clients, curl and `*/*` get JSON."""
    accept = request.accept_mimetypes
    return any(value == "text/html" for value, _ in accept) and accept.best_match(
        ["application/json", "text/html"]) == "text/html"


def gallery_url(prefix: str = "") -> str | None:
    """The gallery at `prefix`; None under access control, where a slide's token does not
    grant a listing."""
    if state().signer is not None:
        return None
    return url_for(".gallery", prefix=prefix or None)


def handle_error(error: WSIError):
    """An HTML page with the error for a person who opened a page; JSON for everyone else."""
    endpoint = (request.endpoint or "").rsplit(".", 1)[-1]
    if endpoint not in PAGE_ENDPOINTS or not _asks_for_html():
        return handle_wsi_error(error)
    return html_page(render_template("wsi_error.html", error=error, gallery=gallery_url()),
                     error.status)


class ViewerUnavailable(WSIError):
    status = 503
    code = "viewer_unavailable"


def view(slide_id: str):
    if not assets.installed():
        raise ViewerUnavailable("the viewer's OpenSeadragon files are not installed: run "
                                "`python -m wsi_blueprint.viewer.assets` once")
    settings = state().settings
    reader = state().readers.open(slide_id)
    index = reader.info()
    # A colour mode in the page's URL goes on to every image of the page (OpenSeadragon adds
    # the descriptor's query to each tile URL).
    color = color_mode(request.args["color"]) if request.args.get("color") else None
    images = [(name, url_for(".associated_image", slide_id=slide_id, name=name, color=color))
              for name in sorted(index.associated)
              if name not in PATIENT_IMAGES or settings.show_label_and_macro]
    folder = posixpath.dirname(slide_id)
    # With access control on, the page was reached with a token in its URL; the page renews it.
    token, grant = g.get("wsi_url_token"), g.get("wsi_grant")
    return html_page(render_template(
        "wsi_viewer.html", slide_id=slide_id, name=posixpath.basename(slide_id), index=index,
        vendor=VENDORS.get(index.format, index.format), images=images,
        properties=sorted(shown_properties(reader).items()),
        gallery=gallery_url(folder + "/" if folder else ""),
        mpp=index.mpp[0] if index.mpp else None,
        tile_source=url_for(".dzi_descriptor", slide_id=slide_id, color=color), token=token,
        token_expires_in=int(grant.expires - time.time()) if grant else None))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/view/<path:slide_id>", "viewer", view)


TEMPLATES = os.path.join(os.path.dirname(assets.__file__), "templates")
STATIC = assets.STATIC
