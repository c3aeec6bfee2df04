"""The inbox count in the top bar and which pages of the closed loop the menu offers."""

from __future__ import annotations


def events(request) -> dict:
    post = getattr(request, "post", None)
    if post is None:
        return {}
    from wangge.events import selectors
    from wangge.events.views import common as views

    return {
        "inbox_unread": selectors.inbox(actor=post, unread_only=True).count(),
        "events_menu": {
            "phone": views.is_field(post),
            "queue": views.dispatcher_level(post) is not None,
            "unit": views.is_unit(post),
        },
    }
