from pathlib import Path

from wangge.core.management.imports import ImportCommand
from wangge.perception.imports import devices_import


class Command(ImportCommand):
    help = (
        "Import devices from a CSV or XLSX file (one row per device; the device id identifies "
        "it, the house by house_id or address + house_unit + room). --mode all: nothing is "
        "written if any row is bad; --mode good: the good rows are written and the bad ones go "
        "to an error file. New devices' keys are written to --keys (mode 0600)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--keys", help="file for the new devices' keys (default FILE.keys.csv)")

    def handle(self, *args, **options):
        self.keys_path = Path(options.pop("keys") or Path(options["file"]).with_suffix(".keys.csv"))
        return super().handle(*args, **options)

    def run_import(self, **kw):
        import csv
        import os

        result = devices_import(**kw)
        if result.keys:
            fd = os.open(self.keys_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["device_id", "key"])
                w.writerows(result.keys)
            self.stdout.write(f"keys of {len(result.keys)} new devices written to {self.keys_path}")
        return result
