import json

from django.core.management.base import BaseCommand, CommandError

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ApplicationError
from wangge.regions.selectors import place_get
from wangge.regions.services import grids_export


class Command(BaseCommand):
    help = "Write every grid under CODE as a GeoJSON FeatureCollection (the import format)."

    def add_arguments(self, parser):
        parser.add_argument("code", help="a region or grid code, e.g. 510104 or 5101")
        parser.add_argument("--kind", default="", help="only these kinds, comma-separated")

    def handle(self, *args, code, kind, **options):
        try:
            place_get(actor=SYSTEM, code=code)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        kinds = [k for k in kind.split(",") if k] or None
        fc = grids_export(actor=SYSTEM, code=code, kinds=kinds)
        self.stdout.write(json.dumps(fc, ensure_ascii=False, separators=(",", ":")))
