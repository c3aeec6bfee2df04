import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


def serve(*, host: str, port: int, workers: int, stdout) -> None:
    """Collect static files and serve the WSGI app with granian (static files included)."""
    from granian import Granian
    from granian.constants import Interfaces

    call_command("collectstatic", interactive=False, verbosity=0)
    stdout.write(f"wangge is serving on http://{host}:{port}/  (Ctrl-C stops it)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")
    Granian(
        "wangge.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=8,
        backpressure=32,
        static_path_route=["/static"],
        static_path_mount=[settings.STATIC_ROOT],
        log_access=False,
    ).serve()


class Command(BaseCommand):
    help = "Apply migrations and serve wangge (WSGI, granian) with its static files."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("WANGGE_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WANGGE_PORT", 8000)))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WANGGE_WORKERS", 2)))

    def handle(self, *args, host, port, workers, **options):
        call_command("migrate", interactive=False, verbosity=0)
        serve(host=host, port=port, workers=workers, stdout=self.stdout)
