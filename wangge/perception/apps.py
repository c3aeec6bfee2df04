from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PerceptionConfig(AppConfig):
    name = "wangge.perception"
    label = "perception"
    verbose_name = _("Smart sensing")
