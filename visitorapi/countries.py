"""Country facts for the API response: name, currencies, languages, continent, EU, calling code, flag.

The facts come from ``data/countries.json``, generated from Unicode CLDR by
``tools/gen_countries.py`` (source and license in ``data/README.md``). The
file is read once, on the first lookup, so nothing happens at import; a
gunicorn ``--preload`` master that looks one up shares the table with its
workers.
"""
import functools
import json
from dataclasses import dataclass

from visitorapi import resources
from visitorapi.errors import OperatorError

DATA_FILE = "countries.json"


@dataclass(frozen=True, slots=True)
class CountryFacts:
    """What the API says about a country.

    Attributes:
        code: ISO 3166-1 alpha-2, uppercase (``XK`` for Kosovo).
        name: English name (CLDR), e.g. ``"Germany"``.
        currencies: ISO 4217 codes in legal tender, CLDR's order of precedence.
        languages: ISO 639-1 codes, most spoken first.
        continent_code: one of ``AF AN AS EU NA OC SA``.
        is_eu: a member state of the European Union (CLDR's ``EU`` grouping).
        calling_code: the E.164 country calling code, ``"+49"`` (``""`` if none).
        flag: the flag emoji (the two regional indicator symbols of ``code``).
        currency_details: one ``Currency`` per entry of ``currencies``.
    """
    code: str
    name: str
    currencies: tuple
    languages: tuple
    continent_code: str
    is_eu: bool = False
    calling_code: str = ""
    flag: str = ""
    currency_details: tuple = ()


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency with its English name and symbol (CLDR)."""
    code: str
    name: str
    symbol: str


def flag_emoji(code: str) -> str:
    """Return the flag of an ISO 3166-1 alpha-2 code: its two regional indicator symbols."""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code.upper())


def country_facts(code: str) -> CountryFacts | None:
    """Return the facts for an ISO 3166-1 alpha-2 code (any case), or None if unknown.

    PERF: one dict lookup after the first call; lookups in uppercase skip the
    case conversion.
    """
    table = _table()
    facts = table.get(code)
    if facts is None and isinstance(code, str):
        facts = table.get(code.upper())
    return facts


def all_countries() -> dict:
    """Return ``{code: CountryFacts}`` for every country in the data file."""
    return dict(_table())


@functools.cache
def _table() -> dict:
    path = resources.data_path(DATA_FILE)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        currencies = {code: Currency(code, str(name), str(symbol))
                      for code, (name, symbol) in document["currency_details"].items()}
        return {code: CountryFacts(code=code, name=entry["name"],
                                   currencies=tuple(entry["currencies"]),
                                   languages=tuple(entry["languages"]),
                                   continent_code=entry["continent"],
                                   is_eu=bool(entry["eu"]),
                                   calling_code=entry["calling_code"],
                                   flag=flag_emoji(code),
                                   currency_details=tuple(currencies[currency]
                                                          for currency in entry["currencies"]))
                for code, entry in document["countries"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise OperatorError(f"{path} is not a valid country facts file ({exc!r}); "
                            "regenerate it with tools/gen_countries.py or reinstall visitorapi") from exc
