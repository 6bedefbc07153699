"""Shapes open-data exports write: one JSON array (Socrata, REST exports), an ArcGIS REST response,
nested objects read by their dotted paths, and numbers with a decimal comma.

Each feed is onboarded by config alone; a file of the wrong shape is one line naming the feed, the
file and what it looks like instead, and every batch balances: rows read = loaded + quarantined.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from jointcast.config import ConfigError, load_settings
from tests.conftest import write_key
from tests.test_ingest import _ingest, _query, _utc, assert_rows_accounted
from warehouse.pii import keyed_hash

SECRET = "0123456789abcdef" * 4

JSON_FEED = """
[warehouse]
pii_key_file = "pii.key"

[[agencies]]
id = "city"
name = "City"
kind = "fire"
bbox = [-123.0, 47.0, -122.0, 48.0]

[[feeds]]
id = "city_fire"
agency = "city"
uri = "feeds/{name}"
format = "{file_format}"
{extra}
[feeds.columns]
source_incident_id = "incident_number"
received_at = "datetime"
source_type = "type"
{columns}
"""


def _workspace(tmp_path: Path, name: str, content: str | bytes, *, file_format: str = "json",
               extra: str = "", columns: str = "") -> Path:  # fmt: skip
    """A one-feed workspace holding one feed file; returns the config."""
    (tmp_path / "feeds").mkdir(exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    (tmp_path / "feeds" / name).write_bytes(data)
    write_key(tmp_path / "pii.key", SECRET)
    config = tmp_path / "jointcast.toml"
    text = JSON_FEED.format(name=name, file_format=file_format, extra=extra, columns=columns)
    config.write_text(text, encoding="utf-8")
    return config


def _record(number: int, **more) -> dict:
    return {"incident_number": f"F{number}", "datetime": f"2024-03-0{number % 9 + 1}T10:00:00",
            "type": "Aid Response", **more}  # fmt: skip


def _one_error(config: Path) -> str:
    """The one error line of a refused file; nothing of it stored."""
    [outcome] = _ingest(config)
    [line] = outcome.errors
    assert "\n" not in line and "Traceback" not in line
    assert _query(config, "SELECT status, rows_read FROM meta.batches") == [("failed", 0)]
    assert _query(config, "SELECT count(*) FROM quality.quarantine") == [(0,)]
    return line


# --- format = "json": one array of objects ---------------------------------------------------------


def test_a_json_array_is_read_element_by_element_and_a_non_object_element_is_quarantined(tmp_path):
    """Socrata's ``/resource/xxxx.json``: one array. An element that is no object is quarantined
    alone, numbered by its place in the array."""
    elements = [json.dumps(_record(i)) for i in range(1, 7)]
    elements[2] = "7"  # element 3: a number
    elements[4] = '"F5"'  # element 5: a string
    text = "[\n  " + ",\n  ".join(elements) + "\n]\n"  # pretty-printed: lines are not elements
    config = _workspace(tmp_path, "calls.json", text)
    [outcome] = _ingest(config)
    assert outcome.errors == []
    assert _query(config, "SELECT row_number, source_incident_id FROM core.incidents ORDER BY 1") == [
        (1, "F1"), (2, "F2"), (4, "F4"), (6, "F6"),
    ]  # fmt: skip
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine ORDER BY 1") == [
        (3, ["not_a_json_object"]),
        (5, ["not_a_json_object"]),
    ]
    assert _query(config, "SELECT rows_read, rows_loaded, rows_quarantined FROM meta.batches") == [(6, 4, 2)]
    assert_rows_accounted(config)


def test_a_one_line_gzipped_array_with_null_and_array_elements(tmp_path):
    elements = [_record(1), None, _record(2), [1, 2], _record(3)]
    config = _workspace(tmp_path, "calls.json.gz", gzip.compress(json.dumps(elements).encode()))
    config.write_text(config.read_text().replace('"feeds/calls.json.gz"', '"feeds/*.json.gz"'))
    _ingest(config)
    assert _query(config, "SELECT source_incident_id FROM core.incidents ORDER BY 1") == [
        ("F1",), ("F2",), ("F3",),
    ]  # fmt: skip
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine ORDER BY 1") == [
        (2, ["not_a_json_object"]),
        (4, ["not_a_json_object"]),
    ]
    assert_rows_accounted(config)


def test_an_element_over_the_record_limit_is_quarantined_alone(tmp_path):
    elements = [_record(1), _record(2, narrative="n" * 2_100_000), _record(3)]
    config = _workspace(tmp_path, "calls.json", json.dumps(elements))
    _ingest(config)
    [(row, reasons)] = _query(config, "SELECT row_number, reasons FROM quality.quarantine")
    assert row == 2 and reasons == ["unreadable_row: element over 2000000 bytes (element 2)"]
    assert _query(config, "SELECT count(*) FROM core.incidents") == [(2,)]
    assert_rows_accounted(config)


MALFORMED = "not one well-formed JSON array: Malformed JSON"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (  # JSON Lines given to a json feed
            "\n".join(json.dumps(_record(i)) for i in range(1, 4)) + "\n",
            'the file is JSON Lines (one JSON object per line), not one JSON array: set format = "jsonl"',
        ),
        (  # objects one after another, broken across lines
            json.dumps(_record(1), indent=2) + "\n" + json.dumps(_record(2), indent=2),
            "the file holds 2 JSON values one after another (JSON Lines), not one JSON array:"
            ' set format = "jsonl"',
        ),
        ("incident_number,type\nF1,Aid\n", "the file is not a JSON array: it starts with 'i'"),
        ("  \n\n", "the file is not a JSON array: it holds nothing but white space"),
        (json.dumps([_record(1), _record(2)])[:-30], MALFORMED),
        (json.dumps([_record(1)]) + " trailing", MALFORMED),
        ('[{"incident_number": "F1"}, {"incident_number": F2}]', MALFORMED),
        (b'[{"incident_number": "F\xff1"}]', MALFORMED),
        ("[]", "the JSON array is empty: no rows"),
        ("[1, 2, null]", "no JSON objects in the array"),
        (json.dumps(_record(1)), "the file is one JSON object, not an array of objects, an ArcGIS"),
        (
            json.dumps({"error": {"code": 400, "message": "Invalid or missing input parameters."}}),
            "the file is an ArcGIS error response: 400 Invalid or missing input parameters.",
        ),
    ],
    ids=["jsonl", "concatenated", "csv", "blank", "truncated", "trailing", "bad-element", "bad-bytes",
         "empty", "no-objects", "one-object", "arcgis-error"],
)  # fmt: skip
def test_a_json_file_of_another_shape_is_one_line_saying_what_it_is(tmp_path, content, message):
    config = _workspace(tmp_path, "calls.json", content)
    line = _one_error(config)
    assert line.startswith(f"feed city_fire: file {tmp_path / 'feeds' / 'calls.json'}: ")
    assert message in line, line


@pytest.mark.parametrize(
    "content",
    [
        json.dumps([_record(1), _record(2)]),  # one line
        json.dumps([_record(1), _record(2)], indent=2),  # pretty-printed
        "[" + ",\n".join(json.dumps(_record(i)) for i in range(1, 4)) + "]\n",  # one element a line
        "[\n" + json.dumps(_record(1)) + "\n]\n",  # a lone object line inside the brackets
    ],
    ids=["one-line", "pretty", "element-per-line", "object-line-inside"],
)
def test_a_json_array_given_to_a_jsonl_feed_is_one_line_saying_set_format_json(tmp_path, content):
    config = _workspace(tmp_path, "calls.jsonl", content, file_format="jsonl")
    line = _one_error(config)
    assert line == (
        f"feed city_fire: file {tmp_path / 'feeds' / 'calls.jsonl'}: "
        'the file is one JSON array, not JSON Lines: set format = "json"'
    )


def test_a_jsonl_file_whose_first_line_is_an_array_is_still_json_lines(tmp_path):
    """A bad first line of JSON Lines (a JSON array on its own line) is a quarantined row, as before."""
    lines = ["[1, 2, 3]", *(json.dumps(_record(i)) for i in range(1, 4))]
    config = _workspace(tmp_path, "calls.jsonl", "\n".join(lines) + "\n", file_format="jsonl")
    _ingest(config)
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine") == [
        (1, ["not_a_json_object"])
    ]
    assert _query(config, "SELECT count(*) FROM core.incidents") == [(3,)]
    assert_rows_accounted(config)


# --- ArcGIS REST responses -------------------------------------------------------------------------


def _feature(number: int, x: float, y: float) -> dict:
    attributes = {"OBJECTID": number, "IncidentNum": f"A{number}", "CallType": "MEDIC",
                  "CallDate": f"2024-03-01T0{number}:00:00"}  # fmt: skip
    return {"attributes": attributes, "geometry": {"x": x, "y": y}}


def test_an_arcgis_response_is_read_feature_by_feature_with_its_geometry(tmp_path, caplog):
    features = [_feature(1, -122.3, 47.6), _feature(2, -122.4, 47.5), 5, _feature(4, -122.2, 47.7)]
    response = {"objectIdFieldName": "OBJECTID", "spatialReference": {"wkid": 4326},
                "fields": [{"name": "OBJECTID"}], "features": features,
                "exceededTransferLimit": True}  # fmt: skip
    columns = 'lat = "geometry.y"\nlon = "geometry.x"'
    config = _workspace(tmp_path, "query.json", json.dumps(response, indent=1), columns=columns)
    config.write_text(
        config.read_text()
        .replace('"incident_number"', '"IncidentNum"')
        .replace('"datetime"', '"CallDate"')
        .replace('source_type = "type"', 'source_type = "CallType"')
    )
    with caplog.at_level("WARNING"):
        [outcome] = _ingest(config)
    assert outcome.errors == []
    loaded = _query(config, "SELECT row_number, source_incident_id, lat, lon FROM core.incidents ORDER BY 1")
    assert loaded == [(1, "A1", 47.6, -122.3), (2, "A2", 47.5, -122.4), (4, "A4", 47.7, -122.2)]
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine") == [
        (3, ["not_a_json_object"])
    ]
    [(columns_stored,)] = _query(config, "SELECT source_columns FROM meta.batches")
    assert columns_stored == ["OBJECTID", "IncidentNum", "CallType", "CallDate", "geometry.x", "geometry.y"]
    assert any("exceededTransferLimit" in message for message in caplog.messages)
    assert_rows_accounted(config)


def test_a_geojson_feature_collection_is_read_feature_by_feature_its_point_from_the_geometry(tmp_path):
    """A portal's GeoJSON export: each feature's properties by their own names (a property named
    ``type`` too: the feature's own "Feature" is no column), its point ``geometry.coordinates``
    ([longitude, latitude]); a feature without a geometry loads without a point."""

    def feature(number: int, geometry: dict | None) -> dict:
        return {"type": "Feature", "geometry": geometry, "properties": _record(number)}

    point = {"type": "Point", "coordinates": [-122.3, 47.6]}
    collection = {"type": "FeatureCollection", "features": [feature(1, point), feature(2, None), 7]}
    columns = 'point = "geometry.coordinates"'
    config = _workspace(tmp_path, "calls.geojson", json.dumps(collection), columns=columns,
                        extra='point_order = "lon_lat"')  # fmt: skip
    [outcome] = _ingest(config)
    assert outcome.errors == []
    assert _query(config, "SELECT row_number, source_incident_id, incident_type, lat, lon FROM core.incidents"
                  " ORDER BY 1") == [
        (1, "F1", "aid_response", 47.6, -122.3), (2, "F2", "aid_response", None, None),
    ]  # fmt: skip
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine") == [
        (3, ["not_a_json_object"])
    ]
    assert_rows_accounted(config)


# --- nested objects: dotted paths ------------------------------------------------------------------

NESTED = 'lat = "geo.lat"\nlon = "geo.lon"\npriority = "dispatch.priority"'


@pytest.mark.parametrize("file_format", ["json", "jsonl"])
def test_nested_fields_are_mapped_by_their_dotted_path(tmp_path, file_format):
    records = [
        _record(1, geo={"lat": 47.6, "lon": -122.3}, dispatch={"priority": 2, "units": ["E1", "M2"]}),
        _record(2, geo={"lat": "47.5", "lon": "-122.4"}, dispatch={"priority": "1"}),
        _record(3, geo=None, dispatch={}),  # no coordinates, no priority
        _record(4, geo={"lat": 47.7}, dispatch={"priority": 3}),  # half a point: lon missing
    ]
    if file_format == "json":
        content = json.dumps(records)
    else:
        content = "\n".join(json.dumps(r) for r in records) + "\n"
    config = _workspace(tmp_path, f"calls.{file_format}", content, file_format=file_format, columns=NESTED)
    [outcome] = _ingest(config)
    assert outcome.errors == []
    assert _query(
        config, "SELECT source_incident_id, priority, lat, lon, received_at FROM core.incidents ORDER BY 1"
    ) == [
        ("F1", 2, 47.6, -122.3, _utc(2024, 3, 2, 10)),
        ("F2", 1, 47.5, -122.4, _utc(2024, 3, 3, 10)),
        ("F3", None, None, None, _utc(2024, 3, 4, 10)),
        ("F4", 3, 47.7, None, _utc(2024, 3, 5, 10)),
    ]
    described = [row[0] for row in _query(config, "DESCRIBE raw.city_fire")]
    assert described[2:] == [
        "incident_number", "datetime", "type", "geo.lat", "geo.lon", "dispatch.priority", "dispatch.units",
    ]  # fmt: skip
    assert _query(config, 'SELECT "dispatch.units" FROM raw.city_fire WHERE _row_number = 1') == [
        ('["E1","M2"]',)
    ]  # an array stays its JSON text
    assert_rows_accounted(config)


def test_a_key_given_twice_or_one_column_given_two_values_is_quarantined(tmp_path):
    lines = [
        json.dumps(_record(1, geo={"lat": 47.6, "lon": -122.3})),
        '{"incident_number": "F2", "datetime": "2024-03-01T10:00:00", "type": "Aid", '
        '"geo": {"lat": 47.6, "lat": 47.7, "lon": -122.3}}',  # a nested key twice
        json.dumps(_record(3, **{"geo.lat": 47.1, "geo": {"lat": 47.6, "lon": -122.3}})),  # geo.lat twice
        json.dumps(_record(4, **{"geo.lat": 47.1, "geo": {"lon": -122.3}})),  # one of each: fine
    ]
    columns = 'lat = "geo.lat"\nlon = "geo.lon"'
    config = _workspace(
        tmp_path, "calls.jsonl", "\n".join(lines) + "\n", file_format="jsonl", columns=columns
    )
    _ingest(config)
    assert _query(config, "SELECT row_number, reasons FROM quality.quarantine ORDER BY 1") == [
        (2, ["duplicate_json_key"]),
        (3, ["duplicate_json_key"]),
    ]
    assert _query(config, "SELECT source_incident_id, lat, lon FROM core.incidents ORDER BY 1") == [
        ("F1", 47.6, -122.3),
        ("F4", 47.1, -122.3),
    ]
    assert_rows_accounted(config)


def test_nested_pii_fields_are_dropped_and_hashed(tmp_path):
    """``caller.phone`` names a nested field; ``contact`` names an object, all of whose fields are PII;
    ``witness.phone`` sits in a key that is an object in one row and text in another, so that whole
    column (its JSON text holds the phone) is dropped."""
    records = [
        _record(1, caller={"name": "Jane Roe", "phone": "555-0100", "language": "en"},
               contact={"email": "j@example.org", "address": {"street": "1 Main St"}},
               witness={"phone": "555-0199"}),
        _record(2, caller={"name": "John Doe", "phone": None}, contact={"email": "d@example.org"},
                witness="none"),
    ]  # fmt: skip
    pii = 'pii = { drop = ["caller.phone", "contact", "witness.phone"], hash = ["Caller.Name"] }'
    config = _workspace(tmp_path, "calls.json", json.dumps(records), extra=pii)
    [outcome] = _ingest(config)
    assert outcome.errors == []
    described = [row[0] for row in _query(config, "DESCRIBE raw.city_fire")]
    assert described[2:] == ["incident_number", "datetime", "type", "caller.name", "caller.language"]
    assert _query(config, 'SELECT "caller.name" FROM raw.city_fire ORDER BY _row_number') == [
        (keyed_hash(SECRET.encode(), "Jane Roe"),),
        (keyed_hash(SECRET.encode(), "John Doe"),),
    ]
    stored = (tmp_path / "raw").rglob("*.parquet")
    assert not any(b"555-01" in path.read_bytes() or b"example.org" in path.read_bytes() for path in stored)
    assert_rows_accounted(config)


def test_a_nested_pii_field_the_file_lacks_refuses_the_file(tmp_path):
    records = [_record(1, caller={"name": "Jane Roe"})]
    config = _workspace(
        tmp_path, "calls.json", json.dumps(records), extra='pii = { drop = ["caller.phone"] }'
    )
    line = _one_error(config)
    assert "PII column 'caller.phone' (feeds.pii.drop of feed city_fire) is not in the file's header" in line


# --- decimal commas ---------------------------------------------------------------------------------

EUROPEAN_FEED = """
[[agencies]]
id = "milano"
name = "Milano"
kind = "ems"
timezone = "Europe/Rome"
country = "IT"
bbox = [9.0, 45.3, 9.4, 45.6]

[[feeds]]
id = "milano_118"
agency = "milano"
uri = "feeds/*.csv"
format = "csv"
delimiter = ";"
decimal_separator = ","
timestamp_format = "%d/%m/%Y %H:%M"
timezone = "Europe/Rome"
[feeds.columns]
source_incident_id = "ID"
received_at = "DATA_ORA"
source_type = "TIPO"
priority = "CODICE"
{coordinates}
"""


def test_coordinates_and_priorities_with_a_decimal_comma(tmp_path):
    (tmp_path / "feeds").mkdir()
    (tmp_path / "jointcast.toml").write_text(EUROPEAN_FEED.format(coordinates='lat = "LAT"\nlon = "LON"'))
    (tmp_path / "feeds" / "interventi.csv").write_text(
        "ID;DATA_ORA;TIPO;CODICE;LAT;LON\n"
        "1;01/03/2024 10:00;MEDICO;2;45,46427;9,18951\n"
        "2;01/03/2024 11:00;MEDICO;1,0;45,5;9,2\n"
        "3;01/03/2024 12:00;TRAUMA;3;45.47;9.19\n"  # no comma: read with a point
        "4;01/03/2024 13:00;TRAUMA;2;1.045,5;9,2\n"  # grouped digits: never guessed
        "5;01/03/2024 14:00;TRAUMA;2,5;45,4;9,2\n"  # a fractional priority, as with a point
        "6;01/03/2024 15:00;TRAUMA;2;45,4,1;9,2\n"
    )
    config = tmp_path / "jointcast.toml"
    [outcome] = _ingest(config)
    assert outcome.errors == []
    # a value never guessed is set aside: the incident loads without it
    assert _query(config, "SELECT source_incident_id, priority, lat, lon FROM core.incidents ORDER BY 1") == [
        ("1", 2, 45.46427, 9.18951), ("2", 1, 45.5, 9.2), ("3", 3, 45.47, 9.19),
        ("4", 2, None, None), ("5", None, 45.4, 9.2), ("6", 2, None, None),
    ]  # fmt: skip
    assert _query(config, "SELECT row_number, reasons FROM quality.field_issues ORDER BY 1") == [
        (4, ["unparseable_coordinates"]),
        (5, ["unparseable_priority"]),
        (6, ["unparseable_coordinates"]),
    ]
    assert_rows_accounted(config)


def test_a_point_column_with_a_decimal_comma_splits_on_a_semicolon_or_space(tmp_path):
    (tmp_path / "feeds").mkdir()
    text = EUROPEAN_FEED.format(coordinates='point = "POSIZIONE"').replace(
        'delimiter = ";"', 'delimiter = "\\t"'
    )
    (tmp_path / "jointcast.toml").write_text(text)
    (tmp_path / "feeds" / "interventi.csv").write_text(
        "ID\tDATA_ORA\tTIPO\tCODICE\tPOSIZIONE\n"
        "1\t01/03/2024 10:00\tMEDICO\t2\t(45,46427; 9,18951)\n"
        "2\t01/03/2024 11:00\tMEDICO\t2\t45,5 9,2\n"
        "3\t01/03/2024 12:00\tMEDICO\t2\tPOINT (9,19 45,47)\n"
        "4\t01/03/2024 13:00\tMEDICO\t2\t45,5, 9,2\n"  # a comma between them too: no reading
    )
    config = tmp_path / "jointcast.toml"
    _ingest(config)
    assert _query(config, "SELECT source_incident_id, lat, lon FROM core.incidents ORDER BY 1") == [
        ("1", 45.46427, 9.18951), ("2", 45.5, 9.2), ("3", 45.47, 9.19), ("4", None, None),
    ]  # fmt: skip
    assert _query(config, "SELECT row_number, reasons FROM quality.field_issues") == [
        (4, ["unparseable_coordinates"])
    ]
    assert_rows_accounted(config)


def test_a_json_feed_with_a_decimal_comma_reads_text_and_json_numbers(tmp_path):
    """JSON numbers are written with a point whatever the feed's text uses; the delimiter (a CSV key)
    does not matter."""
    records = [_record(1, geo={"lat": "47,6", "lon": "-122,3"}), _record(2, geo={"lat": 47.5, "lon": -122.4})]
    config = _workspace(tmp_path, "calls.json", json.dumps(records), extra='decimal_separator = ","',
                        columns='lat = "geo.lat"\nlon = "geo.lon"')  # fmt: skip
    _ingest(config)
    assert _query(config, "SELECT source_incident_id, lat, lon FROM core.incidents ORDER BY 1") == [
        ("F1", 47.6, -122.3),
        ("F2", 47.5, -122.4),
    ]
    assert load_settings(config).feeds[0].delimiter == ","


def test_a_decimal_comma_with_a_comma_delimiter_is_refused_naming_the_key(tmp_path):
    (tmp_path / "jointcast.toml").write_text(
        EUROPEAN_FEED.format(coordinates="").replace('delimiter = ";"\n', "")
    )
    with pytest.raises(ConfigError) as error:
        load_settings(tmp_path / "jointcast.toml")
    line = str(error.value)
    assert "\n" not in line
    assert "feeds[0]: decimal_separator: a ',' decimal mark needs another delimiter than ','" in line
