from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from wangge.accounts.scope import SYSTEM
from wangge.core.errors import ApplicationError
from wangge.core.progress import Progress
from wangge.workforce.imports import roster_import


class Command(BaseCommand):
    help = (
        "Import a roster of grid workers from a CSV or XLSX file (one row per worker and place; "
        "the phone identifies the worker). --mode all: nothing is written if any row is bad; "
        "--mode good: the good rows are written and the bad ones go to an error file."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--mode", choices=["all", "good"], default="all")
        parser.add_argument("--errors", help="error file (default: FILE.errors.csv)")

    def handle(self, *args, file, mode, errors, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"Cannot read {file}")
        error_path = Path(errors) if errors else path.with_suffix(".errors.csv")
        progress = Progress("rows", 0, out=self.stdout)
        try:
            result = roster_import(
                actor=SYSTEM, path=path, mode=mode, error_path=error_path, progress=progress
            )
        except ApplicationError as exc:
            for e in (exc.details or [])[:50]:
                self.stderr.write(f"row {e['row']}, {e['column']}: {e['reason']}")
            raise CommandError(exc.message) from None
        progress.finish()
        d = result.as_dict()
        self.stdout.write(
            f"rows {d['rows']}: created {d['created']}, updated {d['updated']}, "
            f"unchanged {d['unchanged']}, with errors {d['errors']}"
        )
        if result.error_file:
            self.stdout.write(f"bad rows written to {result.error_file}")
