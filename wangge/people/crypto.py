"""Field encryption and blind index for personal ID numbers and phone numbers.

A value is encrypted at rest with an AEAD cipher and stored as a text token
``<cipher>:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`` (12-byte random nonce). The field
name (``"id_number"``, ``"phone"``) is bound as associated data, so a token cannot be moved into
another column. Exact-value search goes through a blind index: a keyed HMAC over a field prefix
and the normalised value, under a key of its own that does not change when encryption keys
rotate.

Two cipher suites, chosen when a keyring is created (env ``WANGGE_CIPHER``):

- ``aes-gcm``: AES-256-GCM and HMAC-SHA-256 (the default);
- ``sm4-gcm``: SM4-GCM (GB/T 32907, RFC 8998) and HMAC-SM3 (GB/T 32905), for deployments that
  must pass the commercial-cryptography assessment (密评).

A keyring keeps its suite for life: the blind index depends on it, so changing suites means
re-encrypting *and* re-indexing every value, which is a migration, not a rotation.

Keys come from the environment variable ``WANGGE_KEYS`` or else ``<DATA_DIR>/keys.json``, both
in one JSON format (keys in standard base64)::

    {"cipher": "aes-gcm", "active": "k2",
     "keys": {"k1": "<base64>", "k2": "<base64>"}, "index_key": "<base64>"}

Rotating without downtime:

1. ``get_keyring().rotate().save(settings.DATA_DIR)``: a new key becomes active, old keys stay
   for reading. ``get_keyring()`` notices the changed file on its next call in every process.
   With ``WANGGE_KEYS``, first roll out the JSON with the new key present but not active, then
   the JSON that makes it active.
2. Re-encrypt the stored tokens for which ``needs_reencrypt`` is true with ``reencrypt``; run it
   again after the last process has picked up the new key. Blind indexes do not change.
3. Drop an old key from the JSON only once no stored token uses it.

Neither key material nor a plaintext ever appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import hmac as std_hmac
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

KEYS_FILE = "keys.json"
ENV_KEYS = "WANGGE_KEYS"
ENV_CIPHER = "WANGGE_CIPHER"

NONCE_BYTES = 12
TAG_BYTES = 16
INDEX_KEY_BYTES = 32
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

# Versioned prefixes: changing either makes every token or index unreadable, so never edit them.
_AD_PREFIX = b"wangge:enc:v1:"
_INDEX_PREFIX = b"wangge:bi:v1:"


class CryptoError(Exception):
    """A token cannot be decrypted, or a keyring cannot be read. The message names the reason
    (unknown key id, wrong field, tampering, malformed input) and never holds a plaintext or a
    key."""


class CipherSuite(StrEnum):
    AES_GCM = "aes-gcm"
    SM4_GCM = "sm4-gcm"

    @property
    def key_bytes(self) -> int:
        return 32 if self is CipherSuite.AES_GCM else 16


_SUITES = frozenset(CipherSuite)


class Field(StrEnum):
    """The encrypted fields with a normaliser for their blind index; other names work too and are
    normalised by stripping surrounding whitespace."""

    ID_NUMBER = "id_number"
    PHONE = "phone"


# --- normalisers -------------------------------------------------------------------------------


def normalize_id_number(s: str) -> str:
    """``" 5101 0419900101 123x "`` → ``"51010419900101123X"``: full-width characters folded
    (NFKC), whitespace removed, a final ``x`` upper-cased. Nothing is validated here."""
    if not s.isascii():  # NFKC changes no ASCII character
        s = unicodedata.normalize("NFKC", s)
    s = "".join(s.split())
    if s.endswith("x"):
        s = s[:-1] + "X"
    return s


_NOT_DIGITS = re.compile(r"[^0-9]+")


def normalize_phone(s: str) -> str:
    """``"+86 138-1234-5678"`` → ``"13812345678"``: digits only (full-width folded), and a leading
    country code ``86`` dropped from a 13-digit number (``0086`` from a 15-digit one)."""
    if s.isascii():  # fast path: NFKC changes no ASCII character
        digits = s if s.isdigit() else _NOT_DIGITS.sub("", s)
    else:
        digits = "".join(ch for ch in unicodedata.normalize("NFKC", s) if "0" <= ch <= "9")
    if len(digits) == 13 and digits.startswith("86"):
        return digits[2:]
    if len(digits) == 15 and digits.startswith("0086"):
        return digits[4:]
    return digits


_NORMALIZERS: dict[str, Callable[[str], str]] = {
    Field.ID_NUMBER: normalize_id_number,
    Field.PHONE: normalize_phone,
}


def normalize(value: str, *, field: str) -> str:
    """The form of ``value`` that the blind index of ``field`` is computed over."""
    return _NORMALIZERS.get(field, str.strip)(value)


# --- primitives --------------------------------------------------------------------------------


def _seal(suite: CipherSuite, key: bytes, nonce: bytes, data: bytes, ad: bytes) -> bytes:
    """ciphertext ‖ 16-byte tag."""
    if suite is CipherSuite.AES_GCM:
        return AESGCM(key).encrypt(nonce, data, ad)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(ad)
    body = enc.update(data) + enc.finalize()
    return body + enc.tag


def _open(suite: CipherSuite, key: bytes, nonce: bytes, sealed: bytes, ad: bytes) -> bytes:
    """The plaintext; ``InvalidTag`` when anything (key, nonce, data, ad) does not match."""
    if suite is CipherSuite.AES_GCM:
        return AESGCM(key).decrypt(nonce, sealed, ad)
    body, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    dec.authenticate_additional_data(ad)
    return dec.update(body) + dec.finalize()


def _mac(suite: CipherSuite, key: bytes, message: bytes) -> bytes:
    algorithm = hashes.SHA256() if suite is CipherSuite.AES_GCM else hashes.SM3()
    mac = crypto_hmac.HMAC(key, algorithm)
    mac.update(message)
    return mac.finalize()


def _b64decode_key(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise CryptoError(_("Keyring: %(what)s is not a base64 string.") % {"what": what})
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CryptoError(_("Keyring: %(what)s is not valid base64.") % {"what": what}) from None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


# --- keyring -----------------------------------------------------------------------------------


class Keyring:
    """Data-encryption keys by key id (one of them active) and the blind-index key.

    Immutable: ``rotate()`` returns a new keyring. Build one with ``Keyring.from_dict`` (the JSON
    format above), ``Keyring.generate`` or ``Keyring.load``.
    """

    __slots__ = ("_suite", "_keys", "_active", "_index_key")

    def __init__(
        self,
        *,
        cipher: CipherSuite | str,
        keys: Mapping[str, bytes],
        active: str,
        index_key: bytes,
    ) -> None:
        try:
            suite = CipherSuite(cipher)
        except ValueError:
            raise CryptoError(
                _("Keyring: unknown cipher %(cipher)r (expected %(choices)s).")
                % {"cipher": str(cipher)[:40], "choices": ", ".join(CipherSuite)}
            ) from None
        if not keys:
            raise CryptoError(_("Keyring: no encryption keys."))
        for key_id, key in keys.items():
            if not isinstance(key_id, str) or not KEY_ID_RE.match(key_id):
                raise CryptoError(
                    _("Keyring: invalid key id %(key_id)r (1–32 of A–Z a–z 0–9 _ -).")
                    % {"key_id": str(key_id)[:40]}
                )
            if not isinstance(key, bytes) or len(key) != suite.key_bytes:
                raise CryptoError(
                    _("Keyring: key %(key_id)s must be %(n)d bytes for %(cipher)s.")
                    % {"key_id": key_id, "n": suite.key_bytes, "cipher": suite}
                )
        if not isinstance(active, str) or active not in keys:
            raise CryptoError(
                _("Keyring: active key %(key_id)r is not among the keys.")
                % {"key_id": str(active)[:40]}
            )
        if not isinstance(index_key, bytes) or len(index_key) < INDEX_KEY_BYTES:
            raise CryptoError(
                _("Keyring: the index key must be at least %(n)d bytes.") % {"n": INDEX_KEY_BYTES}
            )
        self._suite = suite
        self._keys = dict(keys)
        self._active = active
        self._index_key = index_key

    # -- construction and storage

    @classmethod
    def generate(
        cls, cipher: CipherSuite | str = CipherSuite.AES_GCM, *, key_id: str = "k1"
    ) -> Keyring:
        """A fresh keyring with one key (32 bytes for AES-256, 16 for SM4) and a 32-byte index
        key."""
        suite = CipherSuite(cipher)
        return cls(
            cipher=suite,
            keys={key_id: secrets.token_bytes(suite.key_bytes)},
            active=key_id,
            index_key=secrets.token_bytes(INDEX_KEY_BYTES),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Keyring:
        """From the JSON format above (keys in standard base64)."""
        if not isinstance(data, Mapping):
            raise CryptoError(_("Keyring: expected a JSON object."))
        keys = data.get("keys")
        if not isinstance(keys, Mapping):
            raise CryptoError(_("Keyring: “keys” must be an object of key id → base64 key."))
        return cls(
            cipher=data.get("cipher", CipherSuite.AES_GCM),
            keys={
                str(key_id): _b64decode_key(text, f"key {str(key_id)[:40]}")
                for key_id, text in keys.items()
            },
            active=data.get("active", ""),
            index_key=_b64decode_key(data.get("index_key"), "index_key"),
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            data = json.loads(text)
        except ValueError:
            # The decoder's message quotes no input, but say nothing more than needed.
            raise CryptoError(_("Keyring: not valid JSON.")) from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, directory: Path, env: Mapping[str, str], *, create: bool = False) -> Keyring:
        """The keyring from ``env["WANGGE_KEYS"]``, else ``<directory>/keys.json``.

        With neither and ``create=True``, a new keyring (cipher from ``env["WANGGE_CIPHER"]``,
        default ``aes-gcm``) is written to ``keys.json`` with mode 0600; when another process
        creates the file at the same moment, its keyring is used. ``WANGGE_CIPHER`` has no effect
        on an existing keyring.
        """
        text = env.get(ENV_KEYS)
        if text:
            return cls.from_json(text)
        path = Path(directory) / KEYS_FILE
        try:
            return cls._read(path)
        except FileNotFoundError:
            if not create:
                raise CryptoError(
                    _("No keyring: set %(env)s or create %(path)s.")
                    % {"env": ENV_KEYS, "path": path}
                ) from None
        cipher = env.get(ENV_CIPHER) or CipherSuite.AES_GCM
        if cipher not in _SUITES:
            raise CryptoError(
                _("%(env)s must be one of %(choices)s.")
                % {"env": ENV_CIPHER, "choices": ", ".join(CipherSuite)}
            )
        keyring = cls.generate(cipher)
        if keyring._write(Path(directory), replace=False):
            logger.warning(
                "Created a new %s keyring in %s: back it up, without it the encrypted personal "
                "data cannot be read.",
                keyring.cipher,
                path,
            )
            return keyring
        return cls._read(path)  # another process was first

    @classmethod
    def _read(cls, path: Path) -> Keyring:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            logger.warning(
                "%s is readable by group or others (mode %o); it should be 0600.", path, mode
            )
        return cls.from_json(text)

    def save(self, directory: Path) -> Path:
        """Write ``<directory>/keys.json`` atomically (temporary file, then rename), mode 0600."""
        directory = Path(directory)
        self._write(directory, replace=True)
        return directory / KEYS_FILE

    def _write(self, directory: Path, *, replace: bool) -> bool:
        """Write keys.json; with ``replace=False`` only if none exists (False if one did)."""
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / KEYS_FILE
        fd, tmp = tempfile.mkstemp(prefix=".keys-", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._as_dict(), f, indent=2)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            if replace:
                os.replace(tmp, target)
            else:
                try:
                    os.link(tmp, target)  # atomic, and never overwrites
                except FileExistsError:
                    return False
                except OSError:  # a file system without hard links
                    if target.exists():
                        return False
                    os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _fsync_dir(directory)
        return True

    def _as_dict(self) -> dict[str, Any]:
        """The JSON form, *with key material*: only for writing keys.json."""
        return {
            "cipher": str(self._suite),
            "active": self._active,
            "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self._keys.items()},
            "index_key": base64.b64encode(self._index_key).decode("ascii"),
        }

    # -- description (no secrets)

    @property
    def cipher(self) -> CipherSuite:
        return self._suite

    @property
    def active_key_id(self) -> str:
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def __repr__(self) -> str:
        return (
            f"<Keyring cipher={self._suite} active={self._active} key_ids={','.join(self._keys)}>"
        )

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Keyring cannot be pickled (it holds key material).")

    # -- encryption

    def encrypt(self, plaintext: str, *, field: str) -> str:
        """``"<cipher>:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>"`` under the active key."""
        if not isinstance(plaintext, str):
            raise TypeError("plaintext must be a str")
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = _seal(
            self._suite,
            self._keys[self._active],
            nonce,
            plaintext.encode("utf-8"),
            _associated_data(field),
        )
        return f"{self._suite}:{self._active}:{_b64url(nonce + sealed)}"

    def decrypt(self, token: str, *, field: str) -> str:
        """The plaintext of ``token``; ``CryptoError`` when the token is malformed, names an
        unknown cipher or key id, was made for another field, or was altered."""
        key_id, nonce, sealed = self._parse(token)
        try:
            data = _open(self._suite, self._keys[key_id], nonce, sealed, _associated_data(field))
        except InvalidTag:
            raise CryptoError(
                _(
                    "Token does not authenticate for field %(field)s under key %(key_id)s: "
                    "it was altered or belongs to another field."
                )
                % {"field": str(field)[:40], "key_id": key_id}
            ) from None
        return data.decode("utf-8")

    def needs_reencrypt(self, token: str) -> bool:
        """Whether ``token`` was made with a key other than the active one."""
        key_id, _nonce, _sealed = self._parse(token)
        return key_id != self._active

    def reencrypt(self, token: str, *, field: str) -> str:
        """``token`` under the active key (returned unchanged if it already is)."""
        if not self.needs_reencrypt(token):
            return token
        return self.encrypt(self.decrypt(token, field=field), field=field)

    def _parse(self, token: str) -> tuple[str, bytes, bytes]:
        parts = token.split(":", 2) if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] not in _SUITES:
            raise _malformed()
        tag, key_id, payload = parts
        if tag != self._suite:
            raise CryptoError(
                _("Token was encrypted with %(token_cipher)s; this keyring uses %(cipher)s.")
                % {"token_cipher": tag, "cipher": self._suite}
            )
        if not KEY_ID_RE.match(key_id):
            raise _malformed()
        if key_id not in self._keys:
            raise CryptoError(
                _("Unknown key id %(key_id)s: the keyring lacks the key this token was made with.")
                % {"key_id": key_id}
            )
        try:
            raw = _unb64url(payload)
        except (binascii.Error, ValueError):
            raise _malformed() from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise _malformed()
        return key_id, raw[:NONCE_BYTES], raw[NONCE_BYTES:]

    # -- blind index

    def blind_index(self, value: str, *, field: str) -> str:
        """Hex HMAC (SHA-256 or SM3, per cipher suite) over a field prefix and the normalised
        value: equal for equal values of one field, unrelated across fields, the same under every
        encryption key. ``ValueError`` if nothing is left after normalising."""
        normalised = normalize(value, field=field)
        if not normalised:
            raise ValueError("nothing to index")
        message = _INDEX_PREFIX + field.encode("utf-8") + b"\x00" + normalised.encode("utf-8")
        return _mac(self._suite, self._index_key, message).hex()

    def matches(self, value: str, index: str, *, field: str) -> bool:
        """Whether ``value`` has blind index ``index`` (constant-time comparison)."""
        return std_hmac.compare_digest(self.blind_index(value, field=field), index)

    def for_field(self, field: str) -> FieldCrypto:
        """Encryption and blind index of one field with the cipher, associated data and HMAC
        prefix prepared once: the same tokens and indexes as ``encrypt`` and ``blind_index``, at a
        fraction of the cost per value. For bulk work (imports); holds key material like the
        keyring itself, so it is never pickled or logged."""
        return FieldCrypto(self, field)

    # -- rotation

    def rotate(self, new_key_id: str | None = None) -> Keyring:
        """A new keyring whose active key is freshly generated (id ``new_key_id``, by default
        ``k<n+1>``); the old keys stay for reading and the index key is unchanged."""
        if new_key_id is None:
            numbers = [int(k[1:]) for k in self._keys if re.fullmatch(r"k\d+", k)]
            n = max(numbers, default=0) + 1
            while f"k{n}" in self._keys:
                n += 1
            new_key_id = f"k{n}"
        if new_key_id in self._keys:
            raise CryptoError(
                _("Key id %(key_id)s is already in the keyring.") % {"key_id": new_key_id}
            )
        keys = dict(self._keys)
        keys[new_key_id] = secrets.token_bytes(self._suite.key_bytes)
        return Keyring(cipher=self._suite, keys=keys, active=new_key_id, index_key=self._index_key)


class FieldCrypto:
    """``Keyring.encrypt`` and ``Keyring.blind_index`` for one field, with everything that does
    not depend on the value made once: the AEAD object (AES-GCM), the associated data, the token
    prefix and an HMAC already fed with the index prefix (copied for each value). Tokens are in the
    keyring's format under its active key, indexes equal to ``blind_index``. Safe to use from one
    thread at a time per instance; make one per thread."""

    __slots__ = ("field", "_suite", "_key", "_ad", "_prefix", "_aead", "_mac", "_normalize")

    def __init__(self, keyring: Keyring, field: str) -> None:
        self.field = field
        self._suite = keyring._suite
        self._key = keyring._keys[keyring._active]
        self._ad = _associated_data(field)
        self._prefix = f"{keyring._suite}:{keyring._active}:"
        self._aead = AESGCM(self._key) if self._suite is CipherSuite.AES_GCM else None
        algorithm = hashes.SHA256() if self._suite is CipherSuite.AES_GCM else hashes.SM3()
        self._mac = crypto_hmac.HMAC(keyring._index_key, algorithm)
        self._mac.update(_INDEX_PREFIX + field.encode("utf-8") + b"\x00")
        self._normalize = _NORMALIZERS.get(field, str.strip)

    def encrypt(self, plaintext: str) -> str:
        """As ``Keyring.encrypt(plaintext, field=self.field)``."""
        if not isinstance(plaintext, str):
            raise TypeError("plaintext must be a str")
        nonce = os.urandom(NONCE_BYTES)
        data = plaintext.encode("utf-8")
        if self._aead is not None:
            sealed = self._aead.encrypt(nonce, data, self._ad)
        else:
            sealed = _seal(self._suite, self._key, nonce, data, self._ad)
        return self._prefix + _b64url(nonce + sealed)

    def blind_index(self, value: str) -> str:
        """As ``Keyring.blind_index(value, field=self.field)``."""
        normalised = self._normalize(value)
        if not normalised:
            raise ValueError("nothing to index")
        mac = self._mac.copy()
        mac.update(normalised.encode("utf-8"))
        return mac.finalize().hex()

    def __repr__(self) -> str:
        return f"<FieldCrypto field={self.field} cipher={self._suite}>"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("FieldCrypto cannot be pickled (it holds key material).")


def _malformed() -> CryptoError:
    return CryptoError(_("Malformed encrypted token."))


def _associated_data(field: str) -> bytes:
    if not isinstance(field, str) or not field:
        raise ValueError("field must be a non-empty str")
    return _AD_PREFIX + field.encode("utf-8")


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- process-wide keyring ----------------------------------------------------------------------

_lock = threading.Lock()
# (keyring, keys.json path or None when it came from the environment, file signature)
type _State = tuple[Keyring, Path | None, tuple[int, int, int] | None]
_state: _State | None = None


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def get_keyring() -> Keyring:
    """The process's keyring, loaded on first use from ``WANGGE_KEYS`` or
    ``settings.DATA_DIR/keys.json`` (created if neither exists).

    A keyring read from the file is read again when the file changes (one ``stat`` per call), so
    a rotation saved by one process reaches the others at once. A file that disappears or turns
    unreadable leaves the loaded keyring in place (and is logged): a new keyring is never created
    over keys already in use.
    """
    global _state
    state = _state
    if state is not None and _is_current(state):
        return state[0]
    with _lock:
        if _state is None or not _is_current(_state):
            _state = _load_state(_state)
        return _state[0]


def _is_current(state: _State) -> bool:
    _keyring, path, signature = state
    if path is None:
        return True
    current = _signature(path)
    return current is None or current == signature


def _load_state(previous: _State | None) -> _State:
    if previous is not None and previous[1] is not None:
        path = previous[1]
        signature = _signature(path)  # before reading: a change while reading is seen next call
        try:
            return (Keyring._read(path), path, signature)
        except (OSError, CryptoError) as e:
            logger.error("Kept the loaded keyring: %s could not be read again (%s).", path, e)
            return (previous[0], path, signature)
    from django.conf import settings

    directory = Path(settings.DATA_DIR)
    env = os.environ
    if env.get(ENV_KEYS):
        return (Keyring.load(directory, env), None, None)
    path = directory / KEYS_FILE
    signature = _signature(path)
    keyring = Keyring.load(directory, env, create=True)
    return (keyring, path, signature or _signature(path))


def reset_keyring() -> None:
    """Forget the process's keyring (tests; the next ``get_keyring()`` loads again)."""
    global _state
    with _lock:
        _state = None
