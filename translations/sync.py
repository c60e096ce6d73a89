"""Keep the catalogs in step with the code: extract every message id, merge it into zh_CN and en.

    .venv/bin/python -m translations.sync          # update both .po files; list what zh_CN still lacks
    .venv/bin/python -m translations.sync --check  # exit 1 when a message id has no Chinese translation

Message ids are English. The English catalog repeats each id as its translation, so it is complete by
construction; the Chinese one is written by people. The .mo files are compiled when the app starts (web.i18n).
"""

from __future__ import annotations

import argparse
import sys
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
DIR = ROOT / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None}
LOCALES = ("zh_CN", "en")


def extract() -> Catalog:
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    template = Catalog(project="runonce", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def po_path(locale: str) -> Path:
    return DIR / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    path = po_path(locale)
    if not path.exists():
        return Catalog(locale=locale, project="runonce", charset="utf-8")
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def save(catalog: Catalog, locale: str) -> None:
    path = po_path(locale)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = BytesIO()
    write_po(buffer, catalog, omit_header=False, sort_output=True, no_location=True, width=0)
    path.write_bytes(buffer.getvalue())


def missing(template: Catalog, catalog: Catalog) -> list[str]:
    out = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id)
        if found is None or not found.string or found.fuzzy:
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def sync() -> dict[str, list[str]]:
    template = extract()
    result = {}
    for locale in LOCALES:
        catalog = load(locale)
        template.creation_date = catalog.creation_date  # no churn in the header on every run
        catalog.update(template, no_fuzzy_matching=True)
        catalog.fuzzy = False
        catalog.project, catalog.version = "runonce", "1.0"
        catalog.copyright_holder = "runonce"
        catalog.msgid_bugs_address = ""
        catalog.last_translator = "runonce"
        catalog.language_team = "runonce"
        catalog.obsolete.clear()
        if locale == "en":
            for message in catalog:
                if message.id and not message.string:
                    message.string = message.id
        save(catalog, locale)
        result[locale] = missing(template, catalog)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only report; exit 1 if a translation is missing"
    )
    args = parser.parse_args()
    if args.check:
        template = extract()
        gaps = {locale: missing(template, load(locale)) for locale in LOCALES}
    else:
        gaps = sync()
    for locale, ids in gaps.items():
        for msgid in ids:
            print(f"{locale}: untranslated: {msgid}")
    return 1 if any(gaps.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
