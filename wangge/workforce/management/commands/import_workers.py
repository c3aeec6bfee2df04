from wangge.core.management.imports import ImportCommand
from wangge.workforce.imports import roster_import


class Command(ImportCommand):
    help = (
        "Import a roster of grid workers from a CSV or XLSX file (one row per worker and place; "
        "the phone identifies the worker). --mode all: nothing is written if any row is bad; "
        "--mode good: the good rows are written and the bad ones go to an error file."
    )

    def run_import(self, **kw):
        return roster_import(**kw)
