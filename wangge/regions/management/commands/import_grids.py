import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ApplicationError
from wangge.regions.services import grids_import


class Command(BaseCommand):
    help = (
        "Import grids from a GeoJSON FeatureCollection (properties: code, name, kind, subtype). "
        "Everything is validated first; nothing is written if any feature is invalid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .geojson file, or - for standard input")

    def handle(self, *args, file, **options):
        try:
            if file == "-":
                import sys

                data = json.load(sys.stdin)
            else:
                with open(file, encoding="utf-8") as fh:
                    data = json.load(fh)
        except OSError as exc:
            raise CommandError(
                _("Cannot read %(file)s: %(err)s") % {"file": file, "err": exc}
            ) from None
        except json.JSONDecodeError as exc:
            raise CommandError(
                _("%(file)s is not JSON: %(err)s") % {"file": file, "err": exc}
            ) from None
        try:
            report = grids_import(actor=SYSTEM, data=data)
        except ApplicationError as exc:
            for e in exc.details or []:
                self.stderr.write(
                    _("feature %(index)s (%(code)s): %(reason)s")
                    % {"index": e["index"], "code": e["code"] or "-", "reason": e["reason"]}
                )
            raise CommandError(exc.message) from None
        self.stdout.write(
            _("created %(created)d, updated %(updated)d, unchanged %(unchanged)d")
            % report.as_dict()
        )
