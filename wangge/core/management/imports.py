"""The base of the file-import commands (people, hotline work orders, workforce rosters)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from wangge.core.errors import ApplicationError
from wangge.core.progress import Progress


class ImportCommand(BaseCommand):
    """``FILE [--mode all|good] [--errors PATH]``: runs ``run_import`` as the system, shows
    progress, prints the row errors of a refused file and the counts. ``--mode all``: nothing
    is written if any row is bad; ``--mode good``: the good rows are written and the bad ones
    go to an error file to fix and import again."""

    def run_import(self, *, actor, path, mode, error_path, progress):
        raise NotImplementedError

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--mode", choices=["all", "good"], default="all")
        parser.add_argument("--errors", help="error file (default: FILE.errors.csv)")

    def handle(self, *args, file, mode, errors, **options):
        from wangge.accounts.scope import SYSTEM

        path = Path(file)
        if not path.is_file():
            raise CommandError(f"Cannot read {file}")
        error_path = Path(errors) if errors else path.with_suffix(".errors.csv")
        progress = Progress("rows", 0, out=self.stdout)
        try:
            result = self.run_import(
                actor=SYSTEM, path=path, mode=mode, error_path=error_path, progress=progress
            )
        except ApplicationError as exc:
            for e in (exc.details or [])[:50]:
                self.stderr.write(f"row {e['row']}, {e['column']}: {e['reason']}")
            raise CommandError(exc.message) from None
        progress.finish()
        d = result.as_dict()
        self.stdout.write(
            f"rows {d['rows']}: created {d['created']}, updated {d.get('updated', 0)}, "
            f"unchanged {d['unchanged']}, with errors {d['errors']}"
        )
        if result.error_file:
            self.stdout.write(f"bad rows written to {result.error_file}")
