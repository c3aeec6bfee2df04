"""The Chinese catalogue is complete and compiled (a missing msgstr would show English)."""

import re
from pathlib import Path

import wangge

LOCALE = Path(wangge.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES"


def _entries(text: str):
    """(msgid, [msgstr …]) pairs of a .po file, continuation lines joined."""
    entries, key, cur = [], None, {}
    for line in text.splitlines() + [""]:
        m = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$', line)
        if m:
            key = m.group(1)
            if key == "msgid" and cur:
                entries.append(cur)
                cur = {}
            cur[key] = m.group(2)
        elif line.startswith('"') and key:
            cur[key] += line[1:-1]
    if cur:
        entries.append(cur)
    return entries


def test_every_message_is_translated_and_compiled():
    po = LOCALE / "django.po"
    entries = [e for e in _entries(po.read_text(encoding="utf-8")) if e.get("msgid")]
    assert len(entries) > 100
    untranslated = [
        e["msgid"] for e in entries if not any(v for k, v in e.items() if k.startswith("msgstr"))
    ]
    assert untranslated == []
    mo = LOCALE / "django.mo"
    assert mo.stat().st_size > 1000


def test_chinese_is_the_default_language(client, db):
    from django.utils import translation

    with translation.override("zh-hans"):
        assert translation.gettext("Micro-grid") == "微网格"
    r = client.get("/regions/")
    assert r["Content-Language"] == "zh-hans"
