"""Pages of the place tree: the region browser (parse → selector → render)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from wangge.core.errors import NotFound
from wangge.regions import codes as C
from wangge.regions import selectors
from wangge.regions.models import Grid


def browse(request, code: str = C.CITY_CODE):
    try:
        place = selectors.place_get(code=code)
    except NotFound as exc:
        raise Http404(exc.message) from None
    children = selectors.place_children(place=place)
    return render(
        request,
        "regions/browse.html",
        {
            "place": place,
            "is_grid": isinstance(place, Grid),
            "ancestors": selectors.place_ancestors(place=place),
            "children": children,
            "grid_counts": selectors.grid_counts(code=place.code),
        },
    )
