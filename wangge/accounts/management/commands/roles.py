from django.core.management.base import BaseCommand

from wangge.accounts.enums import Perm
from wangge.accounts.rules import ROLE_RULES


class Command(BaseCommand):
    help = "Print the rules table: every role, where its post sits and what it may do."

    def handle(self, *args, **options):
        for role, r in ROLE_RULES.items():
            where = "unit" if r.in_unit else (", ".join(r.levels) or "-")
            if r.whole_city:
                where = "whole city"
            flags = " 2FA" if r.two_factor else ""
            self.stdout.write(f"{role.value}\t{role.label}\t{where}{flags}")
            for perm in Perm:
                if perm in r.perms:
                    self.stdout.write(f"\t{perm.value}\t{perm.label}")
