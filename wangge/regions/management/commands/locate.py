from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ApplicationError
from wangge.regions.models import Grid
from wangge.regions.selectors import point_locate


class Command(BaseCommand):
    help = "Print the most specific place containing a WGS-84 point and its chain up to the city."

    def add_arguments(self, parser):
        parser.add_argument("lon", help="longitude, WGS-84 (e.g. 104.0657)")
        parser.add_argument("lat", help="latitude, WGS-84 (e.g. 30.6595)")

    def handle(self, *args, lon, lat, **options):
        try:
            found = point_locate(actor=SYSTEM, lon=lon, lat=lat)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if found.place is None:
            msg = _("No place contains (%(lon)s, %(lat)s).") % {"lon": lon, "lat": lat}
            if found.nearest_district is not None:
                msg += " " + _("The nearest district is %(name)s (%(code)s), %(km).1f km away.") % {
                    "name": found.nearest_district.name,
                    "code": found.nearest_district.code,
                    "km": found.distance_km,
                }
            raise CommandError(msg)
        for p in found.chain:
            kind = p.get_kind_display() if isinstance(p, Grid) else p.get_level_display()
            self.stdout.write(f"{p.code}\t{kind}\t{p.name}")
