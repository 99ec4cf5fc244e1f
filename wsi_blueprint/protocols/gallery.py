"""The landing page `/`: the store's slides as a gallery, a folder at a time.

The page is rendered from one listing page; each card's format and MPP are fetched by the
browser from /slides/<id> only when the card scrolls into view, so a page of a 10,000-slide
bucket opens no slide before it is looked at.
"""

from flask import Blueprint, g, render_template, request, url_for

from ..security.access import listing_prefix
from .context import state
from ..reader.listing import list_entries, listing_arguments
from .viewer import html_page

PAGE_SIZE = 48
THUMBNAIL_SIZE = 256


def human_size(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1000:
        return f"{size} B"
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}"
    return ""


def _crumbs(prefix: str) -> list[tuple[str, str]]:
    """(name, url) for the store root and every folder down to `prefix`."""
    crumbs = [("Slides", url_for(".gallery"))]
    path = ""
    for part in filter(None, prefix.split("/")):
        path += part + "/"
        crumbs.append((part, url_for(".gallery", prefix=path)))
    return crumbs


def _card(entry: dict, prefix: str) -> dict:
    slide_id = entry["id"]
    card = {**entry, "name": slide_id[len(prefix):].rstrip("/"),
            "size_text": human_size(entry["size"])}
    if entry["kind"] == "folder":
        card["url"] = url_for(".gallery", prefix=slide_id)
    elif entry["kind"] == "slide":
        card.update(url=url_for(".viewer", slide_id=slide_id),
                    thumbnail=url_for(".slide_thumbnail", slide_id=slide_id,
                                      max_size=THUMBNAIL_SIZE),
                    metadata=url_for(".slide_metadata", slide_id=slide_id))
    return card


def gallery():
    arguments = listing_arguments(request.args, prefix=listing_prefix(g.get("wsi_grant")))
    prefix, query = arguments["prefix"], arguments["query"]
    if prefix and not prefix.endswith("/"):
        prefix += "/"  # the gallery shows folders, whose prefixes end in a slash
    # Browsing shows one folder; a filter searches every name below it.
    listing = list_entries(state().store, prefix=prefix, limit=PAGE_SIZE,
                           cursor=arguments["cursor"], query=query,
                           delimiter=None if query else "/")
    cards = [_card(entry, prefix) for entry in listing.entries]
    next_url = listing.next_cursor and url_for(".gallery", prefix=prefix or None,
                                               q=query or None, cursor=listing.next_cursor)
    first_url = arguments["cursor"] and url_for(".gallery", prefix=prefix or None,
                                                q=query or None)
    return html_page(render_template(
        "wsi_gallery.html", prefix=prefix, query=query, crumbs=_crumbs(prefix),
        folders=[c for c in cards if c["kind"] == "folder"],
        files=[c for c in cards if c["kind"] != "folder"],
        next_url=next_url, first_url=first_url, thumbnail_size=THUMBNAIL_SIZE))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/", "gallery", gallery)
