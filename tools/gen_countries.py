"""Generate data/countries.json: name, currencies, languages and continent per country, from CLDR.

The API answers ``countryName``, ``currencies``, ``languages`` and
``continentCode`` from this file (read by ``visitorapi.countries``). Its facts
come from the Unicode CLDR (Unicode License v3):

- the country list: CLDR's English territory names, keeping the two-letter
  codes that ISO 3166-1 assigns (249) plus ``XK`` (Kosovo, user-assigned but
  used by IP geolocation databases), and dropping CLDR's groupings and
  exceptional reservations (``EU``, ``UN``, ``AC``, ``IC``, ...);
- ``name``: the CLDR English display name, through babel;
- ``currencies``: ISO 4217 codes that are legal tender in the territory on the
  generation date, in CLDR's order of precedence, through babel
  (``get_territory_currencies(..., tender=True)``);
- ``languages``: ISO 639-1 codes from CLDR's territory language population
  data (babel's ``territory_languages``), most spoken first; a language is
  listed when it has any official status there or at least
  ``MIN_POPULATION_PERCENT`` of the population speaks it; script or region
  variants (``zh_Hant``, ``sd_Deva``) count as their base language;
- ``continent``: the seven-continent code (AF AN AS EU NA OC SA) of the UN
  M.49 region CLDR places the territory in (``territoryContainment``). babel
  does not ship containment data, so it is read from the ``cldr-core`` npm
  package (CLDR's own JSON distribution), fetched with ``npm pack``;
- ``eu``: membership of CLDR's ``EU`` grouping (``territoryContainment``);
- ``calling_code``: the ITU-T E.164 country calling code, ``"+49"``. CLDR
  dropped its telephone code data (``telephoneCodeData``) in version 34, so
  it comes from libphonenumber's metadata through the ``phonenumbers``
  package (Apache 2.0); ``""`` where there is none (Antarctica);
- ``currency_details`` (top level): for every currency listed, its English
  name and symbol (CLDR, through babel: ``"EUR": ["Euro", "€"]``).

babel and phonenumbers are used here only, never at run time: install them
next to this script (``pip install babel phonenumbers``). Usage::

    python tools/gen_countries.py [--cldr-core DIR_OR_TGZ] [--date YYYY-MM-DD] [--output PATH]
"""
import argparse
import datetime
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from visitorapi.atomic import write_atomically  # noqa: E402
OUTPUT = ROOT / "data" / "countries.json"
MIN_POPULATION_PERCENT = 5.0
NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ",        # groupings, pseudo, unknown
                 "AC", "CP", "CQ", "DG", "EA", "IC", "TA"}        # ISO exceptionally reserved
# UN M.49 regions (CLDR territoryContainment) -> continent code.
CONTINENT_OF_REGION = {"002": "AF", "142": "AS", "150": "EU", "009": "OC",
                       "005": "SA", "013": "NA", "021": "NA", "029": "NA"}
CONTINENT_OVERRIDES = {"AQ": "AN"}   # CLDR puts Antarctica in QO "Outlying Oceania"
OFFICIAL = {"official", "de_facto_official", "official_regional"}


def load_containment(source: Path | None) -> tuple[dict, str]:
    """Return (territoryContainment dict, description of its source)."""
    with tempfile.TemporaryDirectory() as tmp:
        if source is None:
            subprocess.run(["npm", "pack", "--silent", "cldr-core"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            source = next(Path(tmp).glob("cldr-core-*.tgz"))
        if source.is_dir():
            root = source
        else:
            with tarfile.open(source) as archive:
                archive.extractall(tmp, filter="data")
            root = Path(tmp) / "package"
        version = json.loads((root / "package.json").read_text())["version"]
        data = json.loads((root / "supplemental" / "territoryContainment.json").read_text())
    return data["supplemental"]["territoryContainment"], f"cldr-core {version}"


def continents(containment: dict) -> dict:
    """Map each territory code to its continent code by walking down the M.49 tree."""
    result = {}

    def walk(region, continent):
        for child in containment.get(region, {}).get("_contains", []):
            if child in containment:      # a sub-region, e.g. 155 or QO "Outlying Oceania"
                walk(child, continent)
            else:
                result.setdefault(child, continent)

    for region, continent in CONTINENT_OF_REGION.items():
        walk(region, continent)
    result.update(CONTINENT_OVERRIDES)
    return result


def languages(entry: dict) -> list:
    """ISO 639-1 codes, most spoken first (ties: official first, then by code)."""
    best = {}
    for tag, facts in entry.items():
        base = tag.split("_")[0]
        if len(base) != 2:
            continue
        percent = facts.get("population_percent") or 0.0
        official = facts.get("official_status") in OFFICIAL
        if not official and percent < MIN_POPULATION_PERCENT:
            continue
        key = (percent, official)
        if base not in best or key > best[base]:
            best[base] = key
    return sorted(best, key=lambda code: (-best[code][0], not best[code][1], code))


def generate(containment: dict, containment_source: str, on: datetime.date) -> dict:
    import babel
    import phonenumbers
    from babel import Locale
    from babel.core import get_global
    from babel.numbers import get_currency_name, get_currency_symbol, get_territory_currencies

    names = Locale("en").territories
    territory_languages = get_global("territory_languages")
    continent_of = continents(containment)
    codes = sorted(code for code in names
                   if len(code) == 2 and code.isalpha() and code.isupper() and code not in NOT_COUNTRIES)
    eu_members = set(containment["EU"]["_contains"])
    countries = {}
    for code in codes:
        if code not in continent_of:
            raise SystemExit(f"{code}: no continent in CLDR territoryContainment")
        calling_code = phonenumbers.country_code_for_region(code)
        countries[code] = {
            "name": names[code],
            "currencies": get_territory_currencies(code, start_date=on, tender=True),
            "languages": languages(territory_languages.get(code, {})),
            "continent": continent_of[code],
            "eu": code in eu_members,
            "calling_code": f"+{calling_code}" if calling_code else "",
        }
    listed = sorted({currency for entry in countries.values() for currency in entry["currencies"]})
    return {
        "source": "Unicode CLDR (Unicode License v3) and libphonenumber (Apache 2.0), "
                  "generated by tools/gen_countries.py",
        "cldr": {"babel": babel.__version__, "cldr_version": get_global("cldr")["version"],
                 "containment": containment_source},
        "phonenumbers": phonenumbers.__version__,
        "currencies_as_of": on.isoformat(),
        "currency_details": {currency: [get_currency_name(currency, locale="en"),
                                        get_currency_symbol(currency, "en")]
                             for currency in listed},
        "countries": countries,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cldr-core", type=Path, help="an unpacked cldr-core package or its .tgz "
                        "(default: 'npm pack cldr-core')")
    parser.add_argument("--date", type=datetime.date.fromisoformat, default=datetime.date.today(),
                        help="currencies in legal tender on this date (default: today)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    try:
        import babel  # noqa: F401
        import phonenumbers  # noqa: F401
    except ImportError as exc:
        print(f"gen_countries: needs {exc.name} (pip install babel phonenumbers); they are "
              "used by this script only", file=sys.stderr)
        return 1
    containment, source = load_containment(args.cldr_core)
    result = generate(containment, source, args.date)
    text = json.dumps(result, indent=1, ensure_ascii=False, sort_keys=False) + "\n"
    write_atomically(args.output, [text.encode("utf-8")])
    print(f"{args.output}: {len(result['countries'])} countries, CLDR {result['cldr']['cldr_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
