"""Event photos are served only to posts that may see the event (not as public media)."""

from __future__ import annotations

from django.http import FileResponse, Http404

from wangge.core.errors import ApplicationError
from wangge.events import selectors
from wangge.events.models import Photo
from wangge.events.photos import photo_path


def photo(request, photo_id: int, thumb: bool = False):
    p = Photo.objects.filter(pk=photo_id).first()
    if p is None:
        raise Http404
    try:
        selectors.event_get(actor=request.post, event_id=p.event_id)
    except ApplicationError:
        raise Http404 from None
    path = photo_path(p, thumbnail=thumb)
    if not path.exists():
        raise Http404
    resp = FileResponse(open(path, "rb"), content_type="image/jpeg" if thumb else p.content_type)
    resp["Cache-Control"] = "private, max-age=86400"
    resp["X-Content-Type-Options"] = "nosniff"
    return resp
