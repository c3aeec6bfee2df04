from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PerceptionConfig(AppConfig):
    name = "wangge.perception"
    label = "perception"
    verbose_name = _("Smart sensing")

    def ready(self) -> None:
        from wangge.events.listeners import transition_listen
        from wangge.perception.alarms import alarm_on_event_change

        transition_listen(alarm_on_event_change)
