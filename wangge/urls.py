from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from wangge.core.api import api, register_routers

register_routers()

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="regions:browse", permanent=False)),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("regions/", include("wangge.regions.urls")),
]
