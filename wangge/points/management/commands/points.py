"""``wangge points``: the points system's rule table, expiry and recompute.

wangge points rules-install [--update]   load the shipped rule table (data/rules.csv)
wangge points expire                     write off points past their validity
wangge points recompute [--apply]        rebuild every balance from the facts and compare with
                                         the ledger; --apply writes what the ledger lacks
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ApplicationError
from wangge.points import services


class Command(BaseCommand):
    help = "Points: install the rule table, write off expired points, recompute from the facts."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        install = sub.add_parser("rules-install", aliases=["rules_install"])
        install.add_argument("--update", action="store_true", help="overwrite edited rules")
        sub.add_parser("expire", help="Write off points past their validity.")
        rc = sub.add_parser("recompute", help="Rebuild balances from the facts and compare.")
        rc.add_argument("--apply", action="store_true", help="write what the ledger lacks")

    def handle(self, *args, subcommand, **options):
        try:
            if subcommand in ("rules-install", "rules_install"):
                n = services.points_rules_install(actor=SYSTEM, update=options["update"])
                self.stdout.write(f"rules created: {n}")
            elif subcommand == "expire":
                out = services.points_expire()
                self.stdout.write(f"users: {out['users']}, points written off: {out['points']}")
            else:
                self._recompute(options["apply"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from None

    def _recompute(self, apply: bool) -> None:
        r = services.points_recompute(actor=SYSTEM, apply=apply)
        self.stdout.write(f"facts: {r.facts}, users: {r.users}")
        for kind in (*r.KINDS, *r.INFO):
            if r.counts.get(kind):
                self.stdout.write(f"{kind}: {r.counts[kind]}")
                for ex in r.examples[kind][:5]:
                    self.stdout.write("  " + json.dumps(ex, default=str, ensure_ascii=False))
        if apply:
            self.stdout.write(f"written: {r.written}, balances fixed: {r.balances_fixed}")
            r = r.after
        if r.ok:
            self.stdout.write("the ledger agrees with the facts")
        else:
            raise CommandError("the ledger differs from the facts (see above)")
