"""The /api answer: its fields, once, and how a lookup becomes its JSON body.

``FIELDS`` is the one list of the answer's members (name, JSON type,
description), in the order they are sent; the OpenAPI document and the
``fields=`` parameter read it. New members are additive: a field never
changes type.
"""
import datetime
import functools
import json
import time
from json.encoder import encode_basestring_ascii

from visitorapi.timezones import utc_offset

_STRING, _STRINGS, _BOOLEAN, _CURRENCIES = "string", "strings", "boolean", "currencies"
_INTEGER_OR_NULL = "integer-or-null"

FIELDS = (
    ("ipAddress", _STRING, "the visitor's IP address as seen by the service"),
    ("countryCode", _STRING, "ISO 3166-1 alpha-2 code"),
    ("countryName", _STRING, "English short name of the country"),
    ("currencies", _STRINGS, "ISO 4217 currency codes"),
    ("languages", _STRINGS, "ISO 639-1 codes, most spoken first"),
    ("region", _STRING, "state or region"),
    ("city", _STRING, "city name (empty with a country-level database)"),
    ("cityLatLong", _STRING, '"latitude,longitude" of the city, or ""'),
    ("browser", _STRING, "browser family"),
    ("browserVersion", _STRING, "browser version"),
    ("os", _STRING, "operating system family"),
    ("osVersion", _STRING, "operating system version"),
    ("deviceBrand", _STRING, "device brand"),
    ("deviceModel", _STRING, "device model"),
    ("deviceFamily", _STRING, "device family"),
    ("timezone", _STRING, "IANA time zone name: the source's, or derived from the country and "
                          "coordinates; empty when neither decides it"),
    ("utcOffset", _STRING, 'the time zone\'s current offset from UTC, "+01:00" (or "")'),
    ("continentCode", _STRING, "two-letter continent code (AF AN AS EU NA OC SA)"),
    ("isEU", _BOOLEAN, "the country is a member state of the European Union"),
    ("callingCode", _STRING, 'the country\'s E.164 calling code, "+49" (or "")'),
    ("flag", _STRING, "the country's flag emoji (or \"\")"),
    ("currencyDetails", _CURRENCIES, "each of currencies with its English name and symbol"),
    ("deviceType", _STRING, "desktop, mobile, tablet, bot, ... or empty"),
    ("isBot", _BOOLEAN, "the client is a known bot"),
    ("asn", _INTEGER_OR_NULL, "the autonomous system number of the visitor's network, or null "
                              "when unknown (or no AS-number database is configured)"),
    ("asOrganization", _STRING, "the organization that runs that network (or \"\")"),
)
NAMES = tuple(name for name, _, _ in FIELDS)

_UA_FIELDS = ("browser", "browserVersion", "os", "osVersion", "deviceBrand", "deviceModel",
              "deviceFamily")
# The members that depend only on the location, for an address the database does not know.
_UNKNOWN_PLACE = ('"countryCode":"","countryName":"","currencies":[],"languages":[],'
                  '"region":"","city":"","cityLatLong":""')
_UNKNOWN_ZONE = ('"timezone":"","utcOffset":"', "", '","continentCode":"","isEU":false,'
                 '"callingCode":"","flag":"","currencyDetails":[]')
_UNKNOWN_NETWORK = '"asn":null,"asOrganization":""'
_LOCATION_CACHE_SIZE = 16384
_NETWORK_CACHE_SIZE = 16384
_UA_CACHE_SIZE = 8192
_OFFSET_SECONDS = 900   # every UTC offset change falls on a quarter hour


class Renderer:
    """Renders answers from cached fragments.

    PERF: the members that depend only on the database record and only on
    the User-Agent are rendered once and cached; an answer is a join of
    fragments instead of one ``json.dumps`` per request. ``utcOffset`` is
    the only member that changes with time: it is looked up per zone and
    recomputed after each quarter hour.

    Args:
        parse_ua: ``visitorapi.useragent.parse``.
        country_facts: ``visitorapi.countries.country_facts``.
        clock: seconds since the epoch (``time.time``; tests pass their own).
    """

    def __init__(self, parse_ua, country_facts, clock=time.time):
        self.parse_ua = parse_ua
        self.country_facts = country_facts
        self.clock = clock
        self._location_json = functools.lru_cache(_LOCATION_CACHE_SIZE)(self._render_location)
        self._ua_json = functools.lru_cache(_UA_CACHE_SIZE)(self._render_ua)
        self._network_json = functools.lru_cache(_NETWORK_CACHE_SIZE)(self._render_network)
        self._offsets = {}

    def render(self, ip: str, location, user_agent: str, fields=None, network=None) -> tuple:
        """Return ``(body bytes, country code or "")`` for a 200 answer.

        Args:
            ip: the visitor's address text.
            location: the database's Location, or None when it has none.
            user_agent: the User-Agent header ("" when absent).
            fields: names from :data:`NAMES` to keep (None: every field).
            network: the AS-number values ``(asn, organization)``, or None.
        """
        if location is None:
            country, place, (before, zone, after) = "", _UNKNOWN_PLACE, _UNKNOWN_ZONE
        else:
            # NOTE: the cache is keyed by the field values, never by the Location:
            # a Location from a lookup keeps its database file mapped, so caching
            # one would keep every replaced file mapped (and its disk space in
            # use) for the worker's life (found by tools/soak.py). PERF: the
            # tuple costs about 0.3 µs per request over keying by the Location.
            country, place, (before, zone, after) = self._location_json(tuple(location))
        browser, device = self._ua_json(user_agent)
        body = ''.join(('{"status":200,"result":"ok","data":{"ipAddress":',
                        encode_basestring_ascii(ip), ',', place, ',', browser, ',', before,
                        self._offset(zone) if zone else "", after, ',', device, ',',
                        _UNKNOWN_NETWORK if network is None else self._network_json(network),
                        '}}'))
        if fields is not None:
            # NOTE: a page that asks for fewer fields pays one JSON round trip
            # (about 10 us); the default answer keeps the fragment path.
            data = json.loads(body)["data"]
            body = json.dumps({"status": 200, "result": "ok",
                               "data": {name: data[name] for name in NAMES if name in fields}},
                              ensure_ascii=False, separators=(",", ":"))
        return body.encode(), country

    def _offset(self, zone: str) -> str:
        now = self.clock()
        cached = self._offsets.get(zone)
        if cached is None or now >= cached[1]:
            valid_until = (now // _OFFSET_SECONDS + 1) * _OFFSET_SECONDS
            moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
            cached = self._offsets[zone] = (utc_offset(zone, moment), valid_until)
        return cached[0]

    def _render_location(self, values):
        """Return (country code, members before the UA ones, (text, zone, text) after them).

        Args:
            values: a Location's fields, in the order it iterates over them.
        """
        code, region, _, city, _, latitude, longitude, timezone = values
        code = code or ""
        facts = self.country_facts(code) if code else None
        lat_long = (f"{latitude},{longitude}"
                    if latitude is not None and longitude is not None else "")
        place = {
            "countryCode": code,
            "countryName": facts.name if facts else "",
            "currencies": list(facts.currencies) if facts else [],
            "languages": list(facts.languages) if facts else [],
            "region": region or "",
            "city": city or "",
            "cityLatLong": lat_long,
        }
        zone = timezone or ""
        after = {
            "continentCode": facts.continent_code if facts else "",
            "isEU": facts.is_eu if facts else False,
            "callingCode": facts.calling_code if facts else "",
            "flag": facts.flag if facts else "",
            "currencyDetails": [{"code": currency.code, "name": currency.name,
                                 "symbol": currency.symbol}
                                for currency in (facts.currency_details if facts else ())],
        }
        return code, members(place), (f'"timezone":{json.dumps(zone)},"utcOffset":"', zone,
                                      '",' + members(after))

    def _render_ua(self, user_agent):
        """Return (browser/OS/device JSON members, deviceType/isBot members)."""
        parsed = self.parse_ua(user_agent)
        main = {name: parsed.get(name) or "" for name in _UA_FIELDS}
        extra = {"deviceType": parsed.get("deviceType") or "",
                 "isBot": bool(parsed.get("isBot"))}
        return members(main), members(extra)


    @staticmethod
    def _render_network(network):
        asn, organization = network
        return members({"asn": asn, "asOrganization": organization or ""})


def members(mapping) -> str:
    """Render a dict as JSON object members, without the braces."""
    return json.dumps(mapping, ensure_ascii=False, separators=(",", ":"))[1:-1]
