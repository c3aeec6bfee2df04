from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PointsConfig(AppConfig):
    name = "wangge.points"
    label = "points"
    verbose_name = _("Points (积分管理)")
