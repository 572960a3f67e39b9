"""Write a database back out as ip-location-db CSV: "city" for locations, "asn" for networks.

Columns: ``start,end,country_code,state1,state2,city,postcode,latitude,
longitude,timezone`` (an AS-number database: ``start,end,as_number,
as_organization``), no header, address text (RFC 5952 for IPv6), one
inclusive range per row in address order, IPv4 first. ``region`` is written
as state1 and ``district`` as state2. The CSV readers read these dialects,
so compile -> export -> compile gives back the same database.
"""
import csv
import io

from visitorapi.ipdb import format as fmt
from visitorapi.ipdb.sources import format_address


def coordinate_text(value) -> str:
    """Degrees as the shortest plain decimal (no exponent), '' when absent."""
    if value is None:
        return ""
    # NOTE: stored values are multiples of 1e-7 degree, so 7 decimals are exact.
    text = f"{value:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def city_csv_rows(database):
    """Yield one CSV row (a list of str) per stored range."""
    for version, first, last, location in database.ranges():
        (country_code, region, district, city, postcode, latitude, longitude,
         timezone) = location
        yield [format_address(first, version), format_address(last, version),
               country_code or "", region or "",
               district or "", city or "", postcode or "", coordinate_text(latitude),
               coordinate_text(longitude), timezone or ""]


def asn_csv_rows(database):
    """Yield one ``start,end,as_number,as_organization`` row per stored range."""
    for version, first, last, network in database.ranges():
        asn, organization = network
        yield [format_address(first, version), format_address(last, version),
               "" if asn is None else str(asn), organization or ""]


def csv_chunks(database, rows_per_chunk=4096):
    """Yield the database's CSV (city or asn, by its kind) as UTF-8 byte chunks."""
    rows = asn_csv_rows if database.kind == fmt.ASN_KIND else city_csv_rows
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    count = 0
    for row in rows(database):
        writer.writerow(row)
        count += 1
        if count % rows_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


assert fmt.COORDINATE_SCALE == 10_000_000  # coordinate_text writes 7 decimals
