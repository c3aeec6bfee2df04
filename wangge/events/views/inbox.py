"""The post's inbox of notices."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, Value, When
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from wangge.events import selectors, services
from wangge.events.enums import (
    Notice,
)
from wangge.events.views.common import (
    _need,
    _query,
    is_field,
)
from wangge.events.views.detail import _back


# --- the inbox ----------------------------------------------------------------------------------
def inbox(request):
    """The post's notices, unread first; mark some or all read."""
    post = request.post
    _need(post is not None)
    if request.method == "POST":
        ids = [int(i) for i in request.POST.getlist("ids") if i.isdigit()]
        every = request.POST.get("all") == "1"
        if every or ids:
            n = services.notifications_read(actor=post, ids=None if every else ids)
            messages.success(request, _("%(n)d notices marked read.") % {"n": n})
        else:
            messages.error(request, _("Select the notices to mark read."))
        return redirect(f"{reverse('events:inbox')}?{request.GET.urlencode()}")
    show = request.GET.get("show", "all")
    kind = request.GET.get("kind", "")
    qs = selectors.inbox(actor=post, unread_only=show == "unread")
    if kind in Notice.values:
        qs = qs.filter(kind=kind)
    # unread first, then the newest (not the longest read: a notice read a moment ago stays near
    # the top instead of sinking below everything read before it)
    unread = Case(When(read_at__isnull=True, then=Value(1)), default=Value(0))
    qs = qs.annotate(unread=unread).order_by("-unread", "-created_at", "-id")
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    return render(
        request,
        "events/inbox.html",
        {
            "layout": "phone.html" if is_field(post) else "base.html",
            "page": page,
            "show": show,
            "kind": kind,
            "kinds": Notice.choices,
            "query": _query(request),
            "back": _back(post),
        },
    )
