from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CamerasConfig(AppConfig):
    name = "wangge.cameras"
    label = "cameras"
    verbose_name = _("AI cameras")

    def ready(self) -> None:
        from wangge.cameras.detections import episode_on_event_change
        from wangge.events.listeners import transition_listen

        transition_listen(episode_on_event_change)
