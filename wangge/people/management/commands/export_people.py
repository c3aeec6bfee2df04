import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ApplicationError
from wangge.people.imports import people_export


class Command(BaseCommand):
    help = (
        "Export the residents under a place to a CSV file in the import format, acting as the "
        "platform. ID numbers and phones are masked unless --unmasked is given with --reason; "
        "children under 14 are never exported. Every export is audited. The file is created "
        "readable by its owner only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--code", required=True, help="place code (a prefix of grid codes)")
        parser.add_argument("--out", required=True, help="CSV file to write (not overwritten)")
        parser.add_argument("--unmasked", action="store_true", help="full ID numbers and phones")
        parser.add_argument("--reason", default="", help="why the full values are needed")

    def handle(self, *args, code, out, unmasked, reason, **options):
        path = Path(out)
        if path.exists():
            raise CommandError(f"{out} exists; choose another file")
        if reason and not unmasked:
            raise CommandError("--reason goes with --unmasked")
        try:
            lines = people_export(actor=SYSTEM, code=code, unmasked=unmasked, reason=reason)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise CommandError(f"Cannot write {out}: {exc.strerror}") from None
        rows = -1  # the header is not a resident
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            for line in lines:
                fh.write(line)
                rows += 1
        what = "unmasked" if unmasked else "masked"
        self.stdout.write(f"{rows} residents written to {out} ({what})")
