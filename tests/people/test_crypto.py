"""Field encryption and blind index: both cipher suites, the field bound to the token, tampering,
rotation, key storage and the process-wide keyring."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import pickle
import stat

import pytest
from cryptography.hazmat.primitives import hashes
from hypothesis import given
from hypothesis import strategies as st

from wangge.people import crypto
from wangge.people.crypto import (
    CipherSuite,
    CryptoError,
    Field,
    Keyring,
    get_keyring,
    normalize_id_number,
    normalize_phone,
    reset_keyring,
)

SUITES = list(CipherSuite)
KEYRINGS = {suite: Keyring.generate(suite) for suite in SUITES}
PHONE = "13812345678"
ID_NUMBER = "11010519491231002X"


def fixed_keyring(suite: CipherSuite) -> Keyring:
    """Keys that never change, for the format-freezing tests."""
    return Keyring(
        cipher=suite,
        keys={"k1": bytes(range(suite.key_bytes))},
        active="k1",
        index_key=bytes(range(100, 132)),
    )


def key_texts(keyring: Keyring) -> list[str]:
    """Every key of a keyring in the encodings it might leak in."""
    out = []
    for raw in [*keyring._keys.values(), keyring._index_key]:
        out += [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(), raw.hex()]
    return out


# --- primitives ----------------------------------------------------------------------------------


def test_sm4_gcm_known_answer_rfc8998():
    """RFC 8998, appendix A.1: the SM4-GCM of this machine's OpenSSL is the real one."""
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    ad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    ciphertext = bytes.fromhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    )
    tag = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")
    sealed = crypto._seal(CipherSuite.SM4_GCM, key, nonce, plaintext, ad)
    assert sealed == ciphertext + tag
    assert crypto._open(CipherSuite.SM4_GCM, key, nonce, sealed, ad) == plaintext


def test_sm3_known_answer_and_hmac_construction():
    """SM3("abc") from GB/T 32905 appendix A, and HMAC-SM3 equal to RFC 2104 built by hand."""
    h = hashes.Hash(hashes.SM3())
    h.update(b"abc")
    assert h.finalize().hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )

    def sm3(data: bytes) -> bytes:
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()

    key, message = bytes(range(32)), b"wangge"
    padded = key.ljust(64, b"\0")
    inner = sm3(bytes(b ^ 0x36 for b in padded) + message)
    expected = sm3(bytes(b ^ 0x5C for b in padded) + inner)
    assert crypto._mac(CipherSuite.SM4_GCM, key, message) == expected


# --- encryption ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
@given(plaintext=st.text(max_size=200), field=st.sampled_from(["id_number", "phone", "note"]))
def test_round_trip(suite, plaintext, field):
    keyring = KEYRINGS[suite]
    token = keyring.encrypt(plaintext, field=field)
    assert keyring.decrypt(token, field=field) == plaintext
    tag, key_id, payload = token.split(":")
    assert (tag, key_id) == (str(suite), "k1")
    assert len(base64.urlsafe_b64decode(payload + "==")) == 12 + len(plaintext.encode()) + 16


@pytest.mark.parametrize("suite", SUITES)
def test_same_value_encrypts_differently_each_time(suite):
    keyring = KEYRINGS[suite]
    assert keyring.encrypt(PHONE, field="phone") != keyring.encrypt(PHONE, field="phone")


@pytest.mark.parametrize(
    "suite,token",
    [
        ("aes-gcm", "aes-gcm:k1:9tyFJODBICtfEwPt5UwMsmp9ADm7QhEq4p915rAQPKWsTWNwtaF7pvwstbJTbA"),
        ("sm4-gcm", "sm4-gcm:k1:bvl2xtYTHPIZpsQqTPqxgH4nkaZBCQhujRgZkH63Ukjo8i8gzELqowTxnLR8cw"),
    ],
)
def test_stored_token_format_stays_readable(suite, token):
    """Tokens written by this version must decrypt in every later one."""
    assert fixed_keyring(CipherSuite(suite)).decrypt(token, field="id_number") == ID_NUMBER


@pytest.mark.parametrize("suite", SUITES)
def test_field_is_bound(suite):
    keyring = KEYRINGS[suite]
    token = keyring.encrypt(PHONE, field=Field.PHONE)
    assert keyring.decrypt(token, field="phone") == PHONE
    with pytest.raises(CryptoError) as exc:
        keyring.decrypt(token, field=Field.ID_NUMBER)
    assert "id_number" in str(exc.value)
    assert PHONE not in str(exc.value)


@pytest.mark.parametrize("suite", SUITES)
@given(data=st.data())
def test_any_altered_bit_is_refused(suite, data):
    keyring = KEYRINGS[suite]
    token = keyring.encrypt(PHONE, field="phone")
    prefix, payload = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload + "=="))
    i = data.draw(st.integers(0, len(raw) - 1), label="byte")
    raw[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    altered = f"{prefix}:{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    with pytest.raises(CryptoError) as exc:
        keyring.decrypt(altered, field="phone")
    assert PHONE not in str(exc.value) and PHONE not in repr(exc.value.args)
    assert exc.value.__cause__ is None


@pytest.mark.parametrize("suite", SUITES)
def test_unknown_key_id_and_malformed_tokens(suite):
    keyring = KEYRINGS[suite]
    token = keyring.encrypt(PHONE, field="phone")
    payload = token.rsplit(":", 1)[1]
    with pytest.raises(CryptoError, match="Unknown key id k9") as exc:
        keyring.decrypt(f"{suite}:k9:{payload}", field="phone")
    assert PHONE not in str(exc.value)

    other = "sm4-gcm" if suite == "aes-gcm" else "aes-gcm"
    with pytest.raises(CryptoError, match="this keyring uses"):
        keyring.decrypt(f"{other}:k1:{payload}", field="phone")
    for bad in ["", PHONE, "aes:k1:abc", f"{suite}:k1", f"{suite}:k 1:{payload}", f"{suite}:k1:!!"]:
        with pytest.raises(CryptoError, match="Malformed") as exc:
            keyring.decrypt(bad, field="phone")
        assert PHONE not in str(exc.value)
    with pytest.raises(CryptoError, match="Malformed"):
        keyring.decrypt(f"{suite}:k1:{payload[:30]}", field="phone")  # shorter than nonce + tag
    with pytest.raises(CryptoError, match="Malformed"):
        keyring.decrypt(None, field="phone")  # type: ignore[arg-type]


def test_a_token_moved_to_another_key_id_is_refused():
    keyring = KEYRINGS[CipherSuite.AES_GCM].rotate()
    token = keyring.encrypt(PHONE, field="phone")
    assert token.startswith("aes-gcm:k2:")
    with pytest.raises(CryptoError, match="does not authenticate"):
        keyring.decrypt(token.replace(":k2:", ":k1:"), field="phone")


# --- blind index ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,normal",
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("86-138-1234-5678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("(+86) １３８１２３４５６７８", "13812345678"),
        ("028-8555 1234", "02885551234"),
        ("8612345678", "8612345678"),  # 10 digits: no country code to drop
        ("", ""),
    ],
)
def test_normalize_phone(raw, normal):
    assert normalize_phone(raw) == normal


@pytest.mark.parametrize(
    "raw,normal",
    [
        ("11010519491231002X", "11010519491231002X"),
        ("11010519491231002x", "11010519491231002X"),
        (" 110105 19491231 002x\n", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),
        ("110105\u300019491231002X", "11010519491231002X"),  # ideographic space
    ],
)
def test_normalize_id_number(raw, normal):
    assert normalize_id_number(raw) == normal


@pytest.mark.parametrize(
    "suite,phone_index,id_index",
    [
        (
            "aes-gcm",
            "7d23b5ca323d39d351d1d57b4546d15bb822b3ea45ea1567e8bf9795cd73a4c5",
            "fc27157adca2e5da35648745147cc616ea6942721b5f3742c226c85a90f70603",
        ),
        (
            "sm4-gcm",
            "d88e070da3f155f34c46ef800197cf14517e5367a96bc21380845e090bcdb7ad",
            "aa8ea4f9c16b905e07e8f871ffecaaefa29f95b4b53d37aca74c1e3f3874ef08",
        ),
    ],
)
def test_blind_index_is_frozen(suite, phone_index, id_index):
    """Stored indexes must keep matching: the construction never changes."""
    keyring = fixed_keyring(CipherSuite(suite))
    assert keyring.blind_index(PHONE, field="phone") == phone_index
    assert keyring.blind_index(ID_NUMBER, field="id_number") == id_index


def test_blind_index_is_hmac_sha256_over_prefix_field_and_value():
    keyring = fixed_keyring(CipherSuite.AES_GCM)
    message = b"wangge:bi:v1:phone\x00" + PHONE.encode()
    expected = hmac.new(bytes(range(100, 132)), message, hashlib.sha256).hexdigest()
    assert keyring.blind_index("+86 138-1234-5678", field="phone") == expected


@pytest.mark.parametrize("suite", SUITES)
def test_blind_index_equal_for_formats_of_one_value(suite):
    keyring = KEYRINGS[suite]
    phones = ["13812345678", "+86 138 1234 5678", "8613812345678", "138-1234-5678"]
    assert len({keyring.blind_index(p, field="phone") for p in phones}) == 1
    ids = [ID_NUMBER, "11010519491231002x", "110105 19491231 002X"]
    assert len({keyring.blind_index(i, field="id_number") for i in ids}) == 1


@pytest.mark.parametrize("suite", SUITES)
def test_blind_index_differs_per_field_key_and_suite(suite):
    keyring = KEYRINGS[suite]
    value = "13812345678"
    by_field = {keyring.blind_index(value, field=f) for f in ["phone", "id_number", "note"]}
    assert len(by_field) == 3
    assert keyring.blind_index(value, field="phone") != Keyring.generate(suite).blind_index(
        value, field="phone"
    )
    a, s = fixed_keyring(CipherSuite.AES_GCM), fixed_keyring(CipherSuite.SM4_GCM)
    assert a.blind_index(value, field="phone") != s.blind_index(value, field="phone")


@pytest.mark.parametrize("suite", SUITES)
@given(
    a=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    b=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
)
def test_blind_index_deterministic_and_distinct(suite, a, b):
    keyring = KEYRINGS[suite]
    twin = Keyring.from_dict(keyring._as_dict())
    ia = keyring.blind_index(a, field="phone")
    assert ia == keyring.blind_index(a, field="phone") == twin.blind_index(a, field="phone")
    assert len(ia) == 64 and int(ia, 16) >= 0
    assert (ia == keyring.blind_index(b, field="phone")) == (a == b)
    assert keyring.matches(f"+86 {a}", ia, field="phone")


def test_blind_index_of_nothing_is_refused():
    with pytest.raises(ValueError):
        KEYRINGS[CipherSuite.AES_GCM].blind_index(" - ", field="phone")


# --- rotation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
@given(plaintext=st.text(min_size=1, max_size=40))
def test_rotation(suite, plaintext):
    old = KEYRINGS[suite]
    token = old.encrypt(plaintext, field="note")
    index = old.blind_index(PHONE, field="phone")

    new = old.rotate()
    assert new.active_key_id == "k2" and new.key_ids == ("k1", "k2")
    assert old.active_key_id == "k1"  # the old keyring is unchanged
    assert new.decrypt(token, field="note") == plaintext
    assert new.blind_index(PHONE, field="phone") == index
    assert new.needs_reencrypt(token)

    fresh = new.encrypt(plaintext, field="note")
    assert fresh.split(":")[1] == "k2"
    assert not new.needs_reencrypt(fresh)
    assert new.reencrypt(fresh, field="note") == fresh

    moved = new.reencrypt(token, field="note")
    assert moved.split(":")[1] == "k2" and not new.needs_reencrypt(moved)
    assert new.decrypt(moved, field="note") == plaintext
    with pytest.raises(CryptoError, match="Unknown key id k2"):
        old.decrypt(moved, field="note")


def test_rotate_names_keys():
    keyring = Keyring.generate()
    assert keyring.rotate().rotate().key_ids == ("k1", "k2", "k3")
    assert keyring.rotate("2026a").active_key_id == "2026a"
    assert keyring.rotate("2026a").rotate().active_key_id == "k2"
    with pytest.raises(CryptoError, match="already"):
        keyring.rotate("k1")
    with pytest.raises(CryptoError, match="invalid key id"):
        keyring.rotate("bad:id")


# --- construction, storage, secrecy --------------------------------------------------------------


def test_repr_and_str_hide_keys_and_pickle_is_refused():
    keyring = KEYRINGS[CipherSuite.AES_GCM].rotate()
    for text in (repr(keyring), str(keyring), f"{keyring}"):
        assert "aes-gcm" in text and "k1,k2" in text
        for secret in key_texts(keyring):
            assert secret not in text
    with pytest.raises(TypeError):
        pickle.dumps(keyring)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"cipher": "des"}, "unknown cipher"),
        ({"active": "k7"}, "active key"),
        ({"keys": {}}, "no encryption keys"),
        ({"keys": {"k1": "c2hvcnQ="}}, "must be 32 bytes"),
        ({"keys": {"k1": "not base64!"}}, "not valid base64"),
        ({"index_key": "c2hvcnQ="}, "index key"),
        ({"index_key": None}, "not a base64 string"),
    ],
)
def test_invalid_keyring_is_refused_without_echoing_keys(change, message):
    data = {**Keyring.generate()._as_dict(), **change}
    with pytest.raises(CryptoError, match=message) as exc:
        Keyring.from_dict(data)
    for value in data["keys"].values():
        assert str(value) not in str(exc.value)


@pytest.mark.parametrize("suite", SUITES)
def test_save_and_load(tmp_path, suite):
    keyring = KEYRINGS[suite].rotate()
    token = keyring.encrypt(PHONE, field="phone")
    path = keyring.save(tmp_path / "data")
    assert path == tmp_path / "data" / "keys.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]  # no temporary file left
    data = json.loads(path.read_text())
    assert data["cipher"] == suite and data["active"] == "k2" and set(data["keys"]) == {"k1", "k2"}
    assert len(base64.b64decode(data["keys"]["k1"])) == suite.key_bytes
    assert len(base64.b64decode(data["index_key"])) == 32

    loaded = Keyring.load(tmp_path / "data", {})
    assert loaded.decrypt(token, field="phone") == PHONE
    assert loaded.blind_index(PHONE, field="phone") == keyring.blind_index(PHONE, field="phone")

    rotated = loaded.rotate()
    rotated.save(tmp_path / "data")  # replaces the file
    assert Keyring.load(tmp_path / "data", {}).active_key_id == "k3"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_load_without_keys(tmp_path):
    with pytest.raises(CryptoError, match="No keyring"):
        Keyring.load(tmp_path, {})
    assert not (tmp_path / "keys.json").exists()


@pytest.mark.parametrize("env,suite", [({}, "aes-gcm"), ({"WANGGE_CIPHER": "sm4-gcm"}, "sm4-gcm")])
def test_load_creates_a_keyring(tmp_path, env, suite):
    created = Keyring.load(tmp_path, env, create=True)
    assert created.cipher == suite and created.key_ids == ("k1",)
    assert len(created._keys["k1"]) == CipherSuite(suite).key_bytes
    assert stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode) == 0o600
    token = created.encrypt(PHONE, field="phone")
    # Loading again (even with another cipher asked for) reads the same keyring.
    again = Keyring.load(tmp_path, {"WANGGE_CIPHER": "aes-gcm"}, create=True)
    assert again.cipher == suite
    assert again.decrypt(token, field="phone") == PHONE


def test_creation_never_overwrites_an_existing_file(tmp_path):
    first = Keyring.generate()
    first.save(tmp_path)
    second = Keyring.generate()
    assert second._write(tmp_path, replace=False) is False
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]
    token = first.encrypt(PHONE, field="phone")
    assert Keyring.load(tmp_path, {}).decrypt(token, field="phone") == PHONE


def test_unknown_cipher_choice_is_refused(tmp_path):
    with pytest.raises(CryptoError, match="WANGGE_CIPHER"):
        Keyring.load(tmp_path, {"WANGGE_CIPHER": "rot13"}, create=True)


def test_env_keys_override_the_file(tmp_path):
    on_disk = Keyring.generate()
    on_disk.save(tmp_path)
    in_env = Keyring.generate(CipherSuite.SM4_GCM).rotate()
    env = {"WANGGE_KEYS": json.dumps(in_env._as_dict())}
    loaded = Keyring.load(tmp_path, env, create=True)
    assert loaded.cipher == "sm4-gcm" and loaded.active_key_id == "k2"
    assert loaded.decrypt(in_env.encrypt(PHONE, field="phone"), field="phone") == PHONE
    with pytest.raises(CryptoError):
        loaded.decrypt(on_disk.encrypt(PHONE, field="phone"), field="phone")


def test_env_keys_must_be_valid(tmp_path):
    with pytest.raises(CryptoError, match="not valid JSON"):
        Keyring.load(tmp_path, {"WANGGE_KEYS": "{'k1': 'secret'"})
    with pytest.raises(CryptoError, match="JSON object"):
        Keyring.load(tmp_path, {"WANGGE_KEYS": "[1, 2]"})


# --- process-wide keyring ------------------------------------------------------------------------


@pytest.fixture
def process_keyring(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("WANGGE_KEYS", raising=False)
    monkeypatch.delenv("WANGGE_CIPHER", raising=False)
    settings.DATA_DIR = tmp_path
    reset_keyring()
    yield tmp_path
    reset_keyring()


def test_get_keyring_creates_once_and_follows_rotation(process_keyring):
    data_dir = process_keyring
    keyring = get_keyring()
    assert (data_dir / "keys.json").exists()
    assert stat.S_IMODE(os.stat(data_dir / "keys.json").st_mode) == 0o600
    assert get_keyring() is keyring
    token = keyring.encrypt(PHONE, field="phone")

    keyring.rotate().save(data_dir)  # as another process would
    current = get_keyring()
    assert current.active_key_id == "k2"
    assert current.decrypt(token, field="phone") == PHONE
    assert get_keyring() is current

    (data_dir / "keys.json").unlink()  # a lost file never leads to a new keyring
    assert get_keyring() is current
    assert not (data_dir / "keys.json").exists()

    reset_keyring()
    assert get_keyring().active_key_id == "k1"  # after a reset, a fresh start


def test_get_keyring_keeps_keys_when_the_file_turns_bad(process_keyring):
    keyring = get_keyring()
    (process_keyring / "keys.json").write_text("{broken")
    assert get_keyring() is keyring


def test_get_keyring_from_env(process_keyring, monkeypatch):
    in_env = Keyring.generate(CipherSuite.SM4_GCM)
    monkeypatch.setenv("WANGGE_KEYS", json.dumps(in_env._as_dict()))
    keyring = get_keyring()
    assert keyring.cipher == "sm4-gcm"
    assert keyring.decrypt(in_env.encrypt(PHONE, field="phone"), field="phone") == PHONE
    assert not (process_keyring / "keys.json").exists()
    assert get_keyring() is keyring


def test_get_keyring_cipher_choice(process_keyring, monkeypatch):
    monkeypatch.setenv("WANGGE_CIPHER", "sm4-gcm")
    assert get_keyring().cipher == "sm4-gcm"
