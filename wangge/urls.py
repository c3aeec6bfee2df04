from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from wangge.accounts.admin import secure_admin_site
from wangge.accounts.views import home
from wangge.core.api import api, register_routers
from wangge.events import photo_views

register_routers()
secure_admin_site()

urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("wangge/favicon.svg"), permanent=True)),
    path("accounts/", include("wangge.accounts.urls")),
    path("audit/", include("wangge.accounts.audit_urls")),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("regions/", include("wangge.regions.urls")),
    path("people/", include("wangge.people.urls")),
    path("verify/", include("wangge.verification.urls")),
    path("events/", include("wangge.events.urls")),
    path("workforce/", include("wangge.workforce.urls")),
    path("points/", include("wangge.points.urls")),
    path("cockpit/", include("wangge.cockpit.urls")),
    path("sensing/", include("wangge.perception.urls")),
    path("cameras/", include("wangge.cameras.urls")),
    path("events/photos/<int:photo_id>/", photo_views.photo, name="event_photo"),
    path(
        "events/photos/<int:photo_id>/thumb/",
        photo_views.photo,
        {"thumb": True},
        name="event_photo_thumb",
    ),
]
