import os
import shutil

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils.translation import gettext as _

from wangge.accounts.demo import ACCOUNTS_FILE
from wangge.core.errors import ApplicationError
from wangge.core.management.commands.serve import serve
from wangge.demo.registry import SCALES, DemoContext
from wangge.demo.services import demo_build


class Command(BaseCommand):
    help = (
        "Build the demo city (a synthetic Chengdu) in the data directory and serve it. "
        "A second run reuses what is built unless --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            choices=SCALES,
            default="district",
            help="district: 锦江区 down to micro-grids, the rest of the city down "
            "to districts (quick); city: every street and community",
        )
        parser.add_argument("--seed", type=int, default=20260101)
        parser.add_argument(
            "--residents",
            type=int,
            default=None,
            help="residents to generate (default 300,000 at district scale)",
        )
        parser.add_argument("--reset", action="store_true", help="delete the data and rebuild")
        parser.add_argument("--no-serve", action="store_true", help="build, do not serve")
        parser.add_argument("--host", default=os.environ.get("WANGGE_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WANGGE_PORT", 8000)))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WANGGE_WORKERS", 2)))

    def handle(
        self, *args, scale, seed, residents, reset, no_serve, host, port, workers, **options
    ):
        data_dir = settings.DATA_DIR
        self.stdout.write(_("data directory: %(dir)s") % {"dir": data_dir})
        if reset:
            self._reset()
        call_command("migrate", interactive=False, verbosity=0)
        if residents is not None and residents < 0:
            raise CommandError(_("--residents must be 0 or more."))
        ctx = DemoContext(
            scale=scale, seed=seed, out=self.stdout, data_dir=data_dir, residents=residents
        )
        try:
            demo_build(scale=scale, seed=seed, ctx=ctx)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        self._accounts(ctx)
        if no_serve:
            self.stdout.write(_("built; not serving (--no-serve)"))
            return
        serve(host=host, port=port, workers=workers, stdout=self.stdout)

    def _reset(self) -> None:
        db = settings.DATABASES["default"]
        if db["ENGINE"].endswith("sqlite3"):
            connections.close_all()
            for suffix in ("", "-wal", "-shm"):
                path = f"{db['NAME']}{suffix}"
                if os.path.exists(path):
                    os.remove(path)
        else:
            call_command("migrate", interactive=False, verbosity=0)
            call_command("flush", interactive=False, verbosity=0)
        shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
        (settings.DATA_DIR / ACCOUNTS_FILE).unlink(missing_ok=True)
        self.stdout.write(_("reset: the demo data was deleted"))

    def _accounts(self, ctx: DemoContext) -> None:
        path = settings.DATA_DIR / ACCOUNTS_FILE
        if ctx.accounts:
            self.stdout.write(_("demo accounts (also in %(path)s):") % {"path": path})
            for line in ctx.accounts:
                self.stdout.write("  " + "  ".join(line.split("\t")))
        elif path.exists():
            self.stdout.write(_("demo accounts: see %(path)s") % {"path": path})
