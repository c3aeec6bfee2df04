"""The project's django-ninja API object and its single error format."""

from __future__ import annotations

import logging

from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError

from wangge.accounts.auth import AUTH
from wangge.core.errors import ApplicationError
from wangge.core.http import is_busy

logger = logging.getLogger("wangge.api")

api = NinjaAPI(
    title="wangge API",
    version="1",
    description="Grid-based community governance platform (网格化社会治理平台).",
    urls_namespace="api",
    auth=AUTH,
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


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    body = ApplicationError(
        _("Sign in, or send an API token (Authorization: Bearer …)."), code="unauthenticated"
    ).as_dict()
    return api.create_response(request, body, status=401)


@api.exception_handler(Exception)
def _server_error(request, exc):
    if isinstance(exc, Http404):
        return _not_found(request, exc)
    if is_busy(exc):
        logger.warning("API busy on %s: %s", request.path, exc)
        body = ApplicationError(
            _("The server is busy; nothing was saved. Send the same request again shortly."),
            code="busy",
        ).as_dict()
        response = api.create_response(request, body, status=503)
        response["Retry-After"] = "1"
        return response
    logger.exception("API error on %s", request.path)
    body = ApplicationError(
        _("Something went wrong on our side; it has been logged."), code="server_error"
    ).as_dict()
    return api.create_response(request, body, status=500)


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
    from wangge.accounts.api import router as accounts_router

    api.add_router("/tokens", accounts_router)
    from wangge.people.api import router as people_router

    api.add_router("/people", people_router)
    from wangge.verification.api import router as verification_router

    api.add_router("/verification", verification_router)
    from wangge.events.api import router as events_router

    api.add_router("/events", events_router)
    from wangge.workforce.api import router as workforce_router

    api.add_router("/workforce", workforce_router)
    from wangge.points.api import router as points_router

    api.add_router("/points", points_router)
    from wangge.cockpit.api import router as cockpit_router

    api.add_router("/cockpit", cockpit_router)
    from wangge.perception.api import router as perception_router

    api.add_router("/perception", perception_router)
    from wangge.cameras.api import router as cameras_router

    api.add_router("/perception", cameras_router)
