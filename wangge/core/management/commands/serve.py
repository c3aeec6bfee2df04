import os
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _


def serve(*, host: str, port: int, workers: int, stdout) -> None:
    """Collect static files and serve the WSGI app with granian (static files included), with
    one background worker beside it."""
    call_command("collectstatic", interactive=False, verbosity=0)
    threads = int(os.environ.get("WANGGE_THREADS", 2 * (os.cpu_count() or 1) + 1))
    stdout.write(
        _("wangge is serving on %(url)s  (Ctrl-C stops it)") % {"url": f"http://{host}:{port}/"}
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wangge.settings")
    worker = _start_worker(stdout)
    try:
        _granian(host, port, workers, threads)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()


def _start_worker(stdout):
    """One background worker beside the web server (embedded mode is one command);
    WANGGE_WORKER=0 leaves it to a separately run ``wangge worker``."""
    if os.environ.get("WANGGE_WORKER", "1") == "0":
        return None
    env = {**os.environ, "WANGGE_DATA_DIR": str(settings.DATA_DIR)}
    code = "import sys; from wangge.cli import main; sys.argv = ['wangge', 'worker']; main()"
    stdout.write(_("background worker started (deadline sweep, notices)"))
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def _granian(host, port, workers, threads) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "wangge.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        # a few request threads per process (pages wait on the database), within what
        # granian considers sane for the machine's cores; backpressure stays granian's default
        # (backlog ÷ workers): granian holds a unit of it per open connection, idle keep-alive
        # ones included, so a few browsers with the cockpit open would stall everyone else
        blocking_threads=threads,
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
