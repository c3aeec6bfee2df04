"""The project's django-ninja API object and its single error format."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import ValidationError as NinjaValidationError

from wangge.core.errors import ApplicationError

api = NinjaAPI(
    title="wangge API",
    version="1",
    description="Grid-based community governance platform (网格化社会治理平台).",
    urls_namespace="api",
)


@api.exception_handler(ApplicationError)
def _application_error(request, exc: ApplicationError):
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ())[1:]) or None,
            "message": e.get("msg", ""),
        }
        for e in exc.errors
    ]
    body = ApplicationError(
        _("The request is not valid: %(reasons)s")
        % {"reasons": "; ".join(f"{e['field']}: {e['message']}" for e in errors)},
        code="validation_error",
        details=errors,
    ).as_dict()
    return api.create_response(request, body, status=422)


@api.exception_handler(Http404)
def _not_found(request, exc):
    body = ApplicationError(_("Not found."), code="not_found").as_dict()
    return api.create_response(request, body, status=404)


def register_routers() -> None:
    """Attach every app's router; called once from the URLconf."""
    from wangge.regions.api import router as regions_router

    api.add_router("/regions", regions_router)
    from wangge.regions.api import locate_router

    api.add_router("/locate", locate_router)
