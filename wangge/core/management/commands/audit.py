import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from wangge.core import audit
from wangge.core.models import AuditEntry


class Command(BaseCommand):
    help = "The audit trail: 'verify' recomputes the hash chain, 'list' prints the latest rows."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser("verify", help="Check that no audit row was changed or removed.")
        verify.add_argument(
            "--batch", type=int, default=5000, help="Rows read per query (default 5000)."
        )
        listing = sub.add_parser("list", help="Print the latest audit rows, newest first.")
        listing.add_argument("--limit", type=int, default=20, help="How many rows (default 20).")

    def handle(self, *args, subcommand, **options):
        if subcommand == "verify":
            self._verify(batch=options["batch"])
        else:
            self._list(limit=options["limit"])

    def _verify(self, *, batch: int) -> None:
        if batch < 1:
            raise CommandError(_("--batch must be at least 1"))
        result = audit.verify(batch=batch)
        if not result.ok:
            if result.first_bad_id is None:
                raise CommandError(
                    _("The audit trail is broken: %(reason)s") % {"reason": result.reason}
                )
            raise CommandError(
                _("The audit trail is broken at row %(id)d: %(reason)s")
                % {"id": result.first_bad_id, "reason": result.reason}
            )
        self.stdout.write(
            _("The audit trail is intact: %(count)d rows checked.") % {"count": result.checked}
        )

    def _list(self, *, limit: int) -> None:
        if limit < 1:
            raise CommandError(_("--limit must be at least 1"))
        for e in AuditEntry.objects.order_by("-id")[:limit]:
            who = e.username or _("system")
            if e.role:
                who = f"{who} ({e.role})"
            target = f"{e.object_type}:{e.object_id}" if e.object_type or e.object_id else "-"
            details = json.dumps(e.details, ensure_ascii=False, sort_keys=True) if e.details else ""
            at = timezone.localtime(e.at).strftime("%Y-%m-%d %H:%M:%S")
            fields = [str(e.id), at, who, e.action, e.outcome, target, e.ip or "-", details]
            self.stdout.write("\t".join(fields))
