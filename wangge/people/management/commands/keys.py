import os

from django.core.management.base import BaseCommand, CommandError

from wangge.accounts.scope import SYSTEM
from wangge.core.progress import Progress
from wangge.people.crypto import ENV_KEYS, get_keyring
from wangge.people.models import Resident
from wangge.people.services import keys_reencrypt, keys_rotate


class Command(BaseCommand):
    help = (
        "Encryption keys of personal data. 'rotate': a new active key, then re-encrypt every "
        "value (old keys stay readable, search keeps working throughout); 'reencrypt': finish "
        "or repeat the re-encryption; 'status': the keys and how many values each encrypts."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["rotate", "reencrypt", "status"])

    def handle(self, *args, action, **options):
        if action == "rotate":
            if os.environ.get(ENV_KEYS):
                raise CommandError(
                    f"The keys come from {ENV_KEYS}: add a new key to that JSON and make it "
                    "active there, then run 'wangge keys reencrypt'."
                )
            key_id = keys_rotate(actor=SYSTEM)
            self.stdout.write(f"new active key: {key_id}")
        if action in ("rotate", "reencrypt"):
            progress = Progress("residents", Resident.objects.count(), out=self.stdout)
            n = keys_reencrypt(actor=SYSTEM, progress=progress)
            progress.finish()
            self.stdout.write(f"re-encrypted {n} residents")
        keys = get_keyring()
        self.stdout.write(f"cipher {keys.cipher}, active key {keys.active_key_id}")
        for key_id in keys.key_ids:
            prefix = f"{keys.cipher}:{key_id}:"
            n = Resident.objects.filter(id_number_enc__startswith=prefix).count()
            self.stdout.write(f"  {key_id}: {n} ID numbers")
