"""Pages of person–house data: search and a resident's page with per-field unmasking."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from wangge.core.errors import ApplicationError, NotFound
from wangge.people import selectors, services
from wangge.people.enums import CareLevel, PersonalField
from wangge.people.text import is_exact_query


def search(request):
    post = request.post
    # ID and phone numbers are searched by POST so they never stand in a URL (browser history,
    # proxy logs); names and addresses by GET, so result pages can be linked and paged.
    if request.method == "POST":
        q = request.POST.get("q", "").strip()
        if not is_exact_query(q):
            return redirect(f"{reverse('people:search')}?{urlencode({'q': q})}")
    else:
        q = request.GET.get("q", "").strip()
        if is_exact_query(q):
            q = ""
    filters = {"care_level": request.GET.get("care_level", ""), "tag": request.GET.get("tag", "")}
    try:
        qs = (
            selectors.resident_search(actor=post, q=q)
            if q
            else selectors.resident_list(actor=post, filters=filters)
        )
    except ApplicationError as exc:
        if exc.status in (403, 404):
            raise Http404 from None
        messages.error(request, exc.message)
        qs = selectors.resident_list(actor=post, filters={})
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    if is_exact_query(query.get("q", "")):
        query.pop("q")
    return render(
        request,
        "people/search.html",
        {
            "page": page,
            "views": selectors.resident_views(actor=post, residents=page.object_list),
            "q": "" if is_exact_query(q) else q,  # a typed ID or phone is not echoed back
            "filters": filters,
            "query": query.urlencode(),
            "levels": CareLevel.choices,
            "tags": selectors.visible_tags(actor=post),
        },
    )


def detail(request, resident_id: int):
    post = request.post
    try:
        r = selectors.resident_get(actor=post, resident_id=resident_id)
    except (NotFound, ApplicationError):
        raise Http404 from None
    revealed = None
    if request.method == "POST":
        try:
            value = services.resident_unmask(
                actor=post,
                resident=r,
                field=request.POST.get("field", ""),
                reason=request.POST.get("reason", ""),
                ref=request.POST.get("ref", ""),
                request=request,
            )
            revealed = {"field": PersonalField(request.POST["field"]).label, "value": value}
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return render(
        request,
        "people/detail.html",
        {
            "r": selectors.resident_view(actor=post, resident=r),
            "household": selectors.household(actor=post, resident=r),
            "history": selectors.care_history(actor=post, resident=r),
            "revealed": revealed,
            "fields": PersonalField.choices,
            "reason": request.POST.get("reason", ""),
            "ref": request.POST.get("ref", ""),
        },
    )
