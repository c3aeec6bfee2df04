from wangge.core.management.imports import ImportCommand
from wangge.people.imports import people_import


class Command(ImportCommand):
    help = (
        "Import buildings, houses and residents from a CSV or XLSX file (one row per resident). "
        "--mode all: nothing is written if any row is bad; --mode good: the good rows are "
        "written and the bad ones go to an error file to fix and import again."
    )

    def run_import(self, **kw):
        return people_import(**kw)
