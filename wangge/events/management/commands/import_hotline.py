from wangge.core.management.imports import ImportCommand
from wangge.events.imports import hotline_import


class Command(ImportCommand):
    help = (
        "Import 12345 hotline work orders from a CSV or XLSX file (one row per work order) as "
        "events; the work-order number is the idempotency key, so importing again changes "
        "nothing. --mode all: nothing is written if any row is bad; --mode good: the good rows "
        "are written and the bad ones go to an error file to fix and import again."
    )

    def run_import(self, **kw):
        return hotline_import(**kw)
