"""Pages of the place tree: the region browser (parse → selector → render)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render

from wangge.accounts.scope import scope_for
from wangge.core.errors import NotFound
from wangge.regions import selectors
from wangge.regions.models import Grid


def browse(request, code: str | None = None):
    post = request.post
    if code is None:
        root = scope_for(post).root
        if root is None:
            raise Http404
        return redirect("regions:detail", code=root or "5101")
    try:
        place = selectors.place_get(actor=post, code=code)
    except NotFound as exc:
        raise Http404(exc.message) from None
    children = selectors.place_children(actor=post, place=place)
    return render(
        request,
        "regions/browse.html",
        {
            "place": place,
            "is_grid": isinstance(place, Grid),
            "ancestors": selectors.place_ancestors(actor=post, place=place),
            "children": children,
            "grid_counts": selectors.grid_counts(actor=post, code=place.code),
        },
    )
