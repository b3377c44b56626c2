"""Logistics tables: CSV and XLSX files of depots, units, vehicles, consumption,
time windows and road distances, read into marked records.

    FILE.csv / FILE.xlsx (one table per file or per sheet)
        → banner and marking column → header → one `LogisticsRecord` per good row
        → bad rows listed (row number, column, reason); the rest loads

Each table is recognised by its file or sheet name (`depots`, `units`,
`vehicles`, `consumption`, `windows`, `matrix`, in English or French), else by
its columns. Choices a reader should know:

- **Markings.** A table is marked by a banner — a row holding one cell, above
  the header or below the last row, like a report's first and last lines —
  and by `--marking`; the two combine into their high-water mark, so
  `--marking` is a floor. A `marking` column marks its row, raised to the
  table's marking. A row with no marking from any of them is refused, and a
  banner that looks like a marking but does not parse refuses the table
  (fail closed).
- **Supply classes** are `I` (rations, counted), `III` (fuel, litres), `V`
  (ammunition, kg), `water` (litres) and `medical` (kg). A column is a class
  by its name in English or French (`rations`, `vivres`, `fuel`, `carburant`,
  `ammunition`, `munitions`, `eau`, `santé`...), optionally prefixed
  (`stock_`, `demand_`, `capacity_`) and followed by its unit in parentheses
  (`V (t)`, `III (m3)`), converted to the class's own unit.
- **Locations** are MGRS (`35VMF4239268103`), degrees (`59.26, 25.96`,
  `59°15'N 25°57'E`), `lat`/`lon` columns, or a place name resolved through
  the workspace's gazetteer, all names of one table together so that they
  pull each other towards one area (`Tapa` is the Estonian town when the
  table also names Rakvere and Jõhvi).
- **Times** are ISO 8601 (`2026-11-23T06:00Z`, UTC when no zone is given), a
  date-time group (`230600ZNOV26`), or a time of day (`06:00`), which the
  plan places on its own day. Windows and shifts are `06:00-10:00`, several
  separated by `;`.
- **Numbers** take a decimal point or comma and spaces between thousands.

Everything here but the file reading is pure; the gazetteer is passed in.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Protocol

from guetteur._exceptions import MarkingError
from guetteur.enrich.coordinates import find_coordinates, mgrs_to_latlon
from guetteur.enrich.times import parse_dtg
from guetteur.model import Marking, Place
from guetteur.security.markings import banner_of_line, high_water_mark, parse_marking
from guetteur.store.base import LogisticsRecord

__all__ = [
    "CLASS_NAMES",
    "CLASS_UNITS",
    "KINDS",
    "SUPPLY_CLASSES",
    "BadRow",
    "ImportReport",
    "PlaceResolver",
    "TableRead",
    "LogisticsRecord",
    "parse_clock",
    "parse_span",
    "read_tables",
]

SUPPLY_CLASSES: tuple[str, ...] = ("I", "III", "V", "water", "medical")
CLASS_UNITS = {"I": "rations", "III": "L", "V": "kg", "water": "L", "medical": "kg"}
CLASS_NAMES = {
    "I": "rations",
    "III": "fuel",
    "V": "ammunition",
    "water": "water",
    "medical": "medical",
}
KINDS = ("depot", "unit", "vehicle", "consumption", "window", "matrix")
MAX_ROWS = 200_000  # per table: a bigger file is refused, not read halfway
MAX_BYTES = 64 << 20

# Words (accents folded) that name each class in a column header.
_CLASS_WORDS = {
    "I": {"i", "rations", "ration", "vivres", "food", "class i", "classe i", "cl i"},
    "III": {"iii", "fuel", "pol", "carburant", "carburants", "class iii", "classe iii", "cl iii"},
    "V": {"v", "ammunition", "ammo", "munitions", "munition", "class v", "classe v", "cl v"},
    "water": {"water", "eau"},
    "medical": {"medical", "med", "sante", "viii", "class viii", "classe viii", "medical supplies"},
}
_CLASS_OF_WORD = {word: cls for cls, words in _CLASS_WORDS.items() for word in words}
_CLASS_PREFIXES = ("stock", "stocks", "demand", "demande", "besoin", "besoins", "capacity",
                   "capacite", "cap", "load", "charge", "need")  # fmt: skip
# Unit written in a header's parentheses → factor to the class's own unit.
_UNIT_FACTORS = {
    "I": {"rations": 1.0, "ration": 1.0, "rats": 1.0, "": 1.0},
    "III": {"l": 1.0, "litres": 1.0, "liters": 1.0, "m3": 1000.0, "": 1.0},
    "V": {"kg": 1.0, "t": 1000.0, "tonnes": 1000.0, "tons": 1000.0, "": 1.0},
    "water": {"l": 1.0, "litres": 1.0, "liters": 1.0, "m3": 1000.0, "": 1.0},
    "medical": {"kg": 1.0, "t": 1000.0, "": 1.0},
}

# Table kind from words of a file or sheet name.
_KIND_WORDS = {
    "depot": ("depot", "depots", "stocks", "stock"),
    "unit": ("unit", "units", "unite", "unites"),
    "vehicle": ("vehicle", "vehicles", "vehicule", "vehicules", "fleet", "flotte"),
    "consumption": ("consumption", "history", "consommation", "consommations", "historique"),
    "window": ("window", "windows", "fenetre", "fenetres", "creneaux", "creneau"),
    "matrix": ("matrix", "distances", "matrice", "distance"),
}

# Column header (folded) → field, per kind. Class columns are found separately.
_NAME = ("name", "nom", "designation")
_LOCATION = ("location", "position", "lieu", "localisation", "place", "mgrs", "grid", "site")
_COMMON = {"marking": ("marking", "classification", "marquage", "security label"),
           "lat": ("lat", "latitude"), "lon": ("lon", "lng", "long", "longitude"),
           "country": ("country", "pays")}  # fmt: skip
_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "depot": {"name": (*_NAME, "depot"), "location": _LOCATION,
              "open": ("open", "opens", "ouverture"), "close": ("close", "closes", "fermeture")},
    "unit": {"name": (*_NAME, "unit", "unite"), "location": _LOCATION,
             "service": ("service", "service min", "service minutes", "unloading minutes",
                         "dechargement min"),
             "windows": ("window", "windows", "fenetre", "fenetres", "creneau", "creneaux"),
             "open": ("open", "opens", "ouverture"), "close": ("close", "closes", "fermeture")},
    "vehicle": {"name": (*_NAME, "vehicle", "vehicule", "type"), "depot": ("depot", "base"),
                "count": ("count", "number", "nombre", "quantity", "qty", "nb"),
                "speed": ("speed", "speed kmh", "speed km h", "vitesse", "vitesse kmh"),
                "shifts": ("shift", "shifts", "vacation", "vacations"),
                "shift_start": ("shift start", "start", "debut"),
                "shift_end": ("shift end", "end", "fin"),
                "max_hours": ("max hours", "max duration", "max duration h", "duree max",
                              "duree max h", "max route hours")},
    "consumption": {"unit": ("unit", "unite", "name", "nom"), "date": ("date", "day", "jour"),
                    "class": ("class", "classe", "supply class"),
                    "quantity": ("quantity", "qty", "consumption", "consommation", "quantite")},
    "window": {"unit": ("unit", "unite", "name", "nom"),
               "open": ("open", "from", "start", "debut", "ouverture"),
               "close": ("close", "to", "end", "fin", "fermeture")},
    "matrix": {"from": ("from", "origin", "de", "origine"),
               "to": ("to", "destination", "a", "vers"),
               "km": ("km", "distance", "distance km"),
               "minutes": ("minutes", "duration", "duration min", "time min", "duree",
                           "duree min")},
}  # fmt: skip
_REQUIRED = {
    "depot": ("name", "location"),
    "unit": ("name", "location"),
    "vehicle": ("name", "depot"),
    "consumption": ("unit", "date"),
    "window": ("unit", "open", "close"),
    "matrix": ("from", "to", "km"),
}


class PlaceResolver(Protocol):
    """What tables need of the gazetteer (`enrich.places.Gazetteer` is one)."""

    def resolve(
        self,
        mentions: Sequence[str],
        context: str = "",
        hint_countries: Collection[str] = (),
    ) -> Sequence[Place | None]: ...


@dataclass(frozen=True)
class BadRow:
    path: str
    row: int | None  # 1-based, as a spreadsheet numbers it; None: the whole table
    column: str | None
    reason: str


@dataclass(frozen=True)
class TableRead:
    path: str
    kind: str
    marking: Marking | None
    rows: int  # good rows


@dataclass
class ImportReport:
    tables: list[TableRead] = field(default_factory=list)
    records: list[LogisticsRecord] = field(default_factory=list)
    failed: list[BadRow] = field(default_factory=list)


class _RowError(Exception):
    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column, self.reason = column, reason


def _fold(text: str) -> str:
    """Header or name words compared: case and accents folded, punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def name_key(name: str) -> str:
    """The identity of a depot, unit or vehicle name: spacing and case folded."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


# ------------------------------------------------------------------ reading files
def _cells_of_csv(path: Path) -> list[list[Any]]:
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise _RowError(None, f"larger than {MAX_BYTES >> 20} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _RowError(None, "not UTF-8 text (save the CSV as UTF-8)") from None
    if "\x00" in text:
        raise _RowError(None, "not a CSV file (holds NUL bytes)")
    # The delimiter that splits the most lines into the same number of cells
    # (two or more): French spreadsheets write ';' and decimal commas.
    sample = text[:65536]
    best: tuple[int, int, str] = (-1, 0, ",")
    for rank, delimiter in enumerate((",", ";", "\t")):
        counts = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter)]
        wide = [c for c in counts if c >= 2]
        modal = max(set(wide), key=wide.count) if wide else 0
        best = max(best, (wide.count(modal) if wide else 0, -rank, delimiter))
    rows = list(csv.reader(io.StringIO(text), delimiter=best[2]))
    return [list(row) for row in rows]


def _cells_of_xlsx(path: Path) -> Iterator[tuple[str, list[list[Any]]]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    if path.stat().st_size > MAX_BYTES:
        raise _RowError(None, f"larger than {MAX_BYTES >> 20} MB")
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise _RowError(None, f"not an XLSX workbook ({type(error).__name__})") from None
    try:
        for sheet in book.worksheets:
            rows: list[list[Any]] = []
            for values in sheet.iter_rows(values_only=True):
                rows.append(["" if v is None else v for v in values])
                if len(rows) > MAX_ROWS + 10:
                    raise _RowError(None, f"sheet {sheet.title!r}: more than {MAX_ROWS} rows")
            yield sheet.title, rows
    finally:
        book.close()


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ------------------------------------------------------------------- parsing cells
def parse_number(text: str) -> float:
    """'1 234,5', '1,234.5', '1234' → float; ValueError naming the text."""
    cleaned = re.sub(r"[\s\u00a0\u202f']", "", text)
    if "," in cleaned and "." in cleaned:
        cleaned = cleaned.replace(",", "")
    elif "," in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


_CLOCK = re.compile(r"^(\d{1,2})[:hH](\d{2})(?:[:](\d{2}))?\s*[zZ]?$")


def parse_clock(text: str) -> str:
    """A time as stored: ISO 8601 UTC for an instant, 'Thh:mm' for a time of day."""
    value = text.strip()
    found = _CLOCK.match(value)
    if found:
        hours, minutes = int(found.group(1)), int(found.group(2))
        if hours > 24 or minutes > 59 or (hours == 24 and minutes):
            raise ValueError(f"{text!r} is not a time of day")
        return f"T{hours:02d}:{minutes:02d}"
    try:
        return parse_dtg(value).astimezone(UTC).isoformat()
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time (ISO 8601 such as 2026-11-23T06:00Z, a DTG such as "
            "230600ZNOV26, or a time of day such as 06:00)"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def parse_span(text: str) -> list[list[str]]:
    """'06:00-10:00; 14:00-16:00' → [[open, close], ...] (each as `parse_clock` keeps it)."""
    spans: list[list[str]] = []
    for part in re.split(r"[;|\n]", text):
        part = part.strip()
        if part:
            spans.append(list(_split_span(part)))
    return spans


def _split_span(part: str) -> tuple[str, str]:
    # The separator is the dash between two times, not a date's own dashes: try
    # each place where both halves read as times.
    for separator in (" - ", "–", "—", " to ", " à ", "/"):
        if separator in part:
            head, _, tail = part.partition(separator)
            try:
                return parse_clock(head), parse_clock(tail)
            except ValueError:
                pass
    for found in re.finditer("-", part):
        try:
            return parse_clock(part[: found.start()]), parse_clock(part[found.end() :])
        except ValueError:
            continue
    raise ValueError(f"{part!r} is not a window such as 06:00-10:00")


def parse_day(text: str) -> str:
    """An ISO date from '2026-11-21', '21/11/2026', '2026-11-21T00:00Z' or a DTG."""
    value = text.strip()
    found = re.match(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$", value)
    try:
        if found:
            return date(int(found.group(3)), int(found.group(2)), int(found.group(1))).isoformat()
        if re.match(r"^\d{4}-\d{2}-\d{2}$", value):
            return date.fromisoformat(value).isoformat()
        return datetime.fromisoformat(parse_clock(value)).date().isoformat()
    except ValueError:
        raise ValueError(f"{text!r} is not a date (2026-11-21 or 21/11/2026)") from None


_MGRS = re.compile(r"^\d{1,2}[C-HJ-NP-X][A-HJ-NP-Z][A-HJ-NP-V](?:\d\d){1,5}$")
_PAIR = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,;/ ]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


def parse_position(text: str) -> tuple[float, float] | None:
    """(lat, lon) from MGRS or degrees; None when `text` is neither (a place name)."""
    compact = re.sub(r"\s+", "", text)
    if _MGRS.match(compact):
        lat, lon, _ = mgrs_to_latlon(compact)
        return lat, lon
    pair = _PAIR.match(text)
    if pair:
        lat, lon = float(pair.group(1)), float(pair.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"{text!r}: latitude or longitude out of range")
        return lat, lon
    found = find_coordinates(text)
    if len(found) == 1 and len(found[0].text) >= 0.8 * len(text.strip()):
        return found[0].lat, found[0].lon
    if any(c.isdigit() for c in text) and not any(c.isalpha() for c in text.replace("°", "")):
        raise ValueError(f"{text!r} is neither MGRS nor degrees")
    return None


# ---------------------------------------------------------------- columns and kinds
def class_of(header: str) -> tuple[str, float] | None:
    """(supply class, factor to its unit) that a header names, or None."""
    unit = ""
    inside = re.search(r"\(([^)]*)\)\s*$", header)
    head = header[: inside.start()] if inside else header
    if inside:
        unit = _fold(inside.group(1))
    words = _fold(head).split()
    if words and words[0] in _CLASS_PREFIXES:
        words = words[1:]
    if len(words) > 1 and words[-1] in ("l", "kg", "t", "m3", "litres", "rations"):
        unit, words = words[-1], words[:-1]
    cls = _CLASS_OF_WORD.get(" ".join(words))
    if cls is None:
        return None
    factor = _UNIT_FACTORS[cls].get(unit)
    if factor is None:
        known = ", ".join(sorted(u for u in _UNIT_FACTORS[cls] if u))
        raise _RowError(header, f"unit {unit!r} is not one of {known}")
    return cls, factor


def _kind_of_name(name: str) -> str | None:
    words = set(_fold(name).split())
    found = [kind for kind, names in _KIND_WORDS.items() if words & set(names)]
    return found[0] if len(found) == 1 else None


def _kind_of_header(header: Sequence[str]) -> str | None:
    folded = {_fold(h) for h in header}
    has_class = any(_safe_class(h) for h in header)

    def has(kind: str, field_name: str) -> bool:
        return bool(folded & set(_FIELDS[kind][field_name]))

    if has("matrix", "from") and has("matrix", "to") and has("matrix", "km"):
        return "matrix"
    if has("consumption", "date") and has("consumption", "unit"):
        return "consumption"
    if has("vehicle", "depot") and (has("vehicle", "count") or has_class):
        return "vehicle"
    if has("window", "unit") and has("window", "open") and not has("unit", "location"):
        return "window"
    if any(f.startswith("stock") for f in folded):
        return "depot"
    if any(f.startswith(("demand", "besoin")) for f in folded):
        return "unit"
    return None


def _safe_class(header: str) -> tuple[str, float] | None:
    try:
        return class_of(header)
    except _RowError:
        return None


def _columns(
    kind: str, header: Sequence[str]
) -> tuple[dict[str, int], dict[str, tuple[int, float]]]:
    """Field → column index, and class → (column index, unit factor)."""
    fields: dict[str, int] = {}
    classes: dict[str, tuple[int, float]] = {}
    wanted = {**_COMMON, **_FIELDS[kind]}
    for index, raw in enumerate(header):
        folded = _fold(raw)
        if not folded:
            continue
        named = next((f for f, names in wanted.items() if folded in names), None)
        if named is not None and named not in fields:
            fields[named] = index
            continue
        if kind in ("depot", "unit", "vehicle", "consumption"):
            found = class_of(raw)
            if found is not None and found[0] not in classes:
                classes[found[0]] = (index, found[1])
    return fields, classes


# --------------------------------------------------------------------- the reader
@dataclass
class _Pending:
    """A row read, waiting for its place name to be resolved with the others."""

    row: int
    record: dict[str, Any]
    marking: Marking
    place: str | None
    country: str | None


def read_tables(
    paths: Sequence[Path],
    marking: Marking | None,
    gazetteer: Callable[[], PlaceResolver] | None,
) -> ImportReport:
    """Every table of `paths`, each good row a record; bad rows and tables listed.

    `gazetteer` gives the place index when a table names a place (opening it
    may take seconds the first time: only then is it called)."""
    report = ImportReport()
    for path in paths:
        where = str(path)
        suffix = path.suffix.lower()
        try:
            if not path.is_file():
                raise _RowError(None, "no such file" if not path.exists() else "not a regular file")
            if suffix == ".csv":
                sheets: list[tuple[str, str, list[list[Any]]]] = [
                    (where, path.stem, _cells_of_csv(path))
                ]
            elif suffix in (".xlsx", ".xlsm"):
                sheets = [(f"{where}#{title}", title, rows) for title, rows in _cells_of_xlsx(path)]
            else:
                raise _RowError(None, f"unsupported file type {suffix or '(none)'!r}: CSV or XLSX")
        except _RowError as error:
            report.failed.append(BadRow(where, None, error.column, error.reason))
            continue
        except OSError as error:
            report.failed.append(BadRow(where, None, None, error.strerror or str(error)))
            continue
        for sheet_where, title, rows in sheets:
            name_hint = title if suffix != ".csv" else path.stem
            _read_table(sheet_where, name_hint, path.stem, rows, marking, gazetteer, report)
    return report


def _read_table(
    where: str,
    name: str,
    stem: str,
    cells: list[list[Any]],
    floor: Marking | None,
    gazetteer: Callable[[], PlaceResolver] | None,
    report: ImportReport,
) -> None:
    rows = [(number, [_text(c) for c in row]) for number, row in enumerate(cells, start=1)]
    filled = [(n, r) for n, r in rows if any(c for c in r)]
    if not filled:
        report.failed.append(BadRow(where, None, None, "empty table"))
        return
    if len(filled) > MAX_ROWS:
        report.failed.append(BadRow(where, None, None, f"more than {MAX_ROWS} rows"))
        return
    # Banners: single-cell rows before the header and after the last row.
    banners: list[Marking] = []
    start = 0
    try:
        while start < len(filled) and sum(1 for c in filled[start][1] if c) == 1:
            banner = _banner(filled[start][1])
            if banner is not None:
                banners.append(banner)
            start += 1
        end = len(filled)
        while end > start + 1 and sum(1 for c in filled[end - 1][1] if c) == 1:
            banner = _banner(filled[end - 1][1])
            if banner is not None:
                banners.append(banner)
            end -= 1
    except MarkingError as error:
        report.failed.append(BadRow(where, filled[start][0], None, f"banner: {error}"))
        return
    if start >= len(filled):
        report.failed.append(BadRow(where, None, None, "no header row"))
        return
    header_row, header = filled[start]
    try:
        kind = _kind_of_name(name) or _kind_of_name(stem) or _kind_of_header(header)
        if kind is None:
            raise _RowError(
                None,
                "cannot tell which table this is: name the file or sheet depots, units, "
                "vehicles, consumption, windows or matrix",
            )
        columns, classes = _columns(kind, header)
    except _RowError as error:
        report.failed.append(BadRow(where, header_row, error.column, error.reason))
        return
    missing = [f for f in _REQUIRED[kind] if f not in columns]
    if kind in ("depot", "unit") and "location" in missing and {"lat", "lon"} <= set(columns):
        missing.remove("location")
    if missing:
        reason = f"{kind} table without column {', '.join(missing)}"
        report.failed.append(BadRow(where, header_row, None, reason))
        return
    stated = [*banners, *([floor] if floor is not None else [])]
    table_marking = high_water_mark(stated) if stated else None
    if table_marking is None and "marking" not in columns:
        report.failed.append(BadRow(
            where, None, None,
            "no marking: add a banner row (e.g. NATO RESTRICTED), a marking column, or --marking",
        ))  # fmt: skip
        return
    pending: list[_Pending] = []
    body = filled[start + 1 : end]
    before = len(report.failed)
    for number, row in body:
        try:
            pending.extend(_read_row(kind, row, columns, classes, table_marking, number))
        except _RowError as error:
            report.failed.append(BadRow(where, number, error.column, error.reason))
    records = _resolve_places(where, kind, pending, gazetteer, report)
    if kind == "window":
        records = _grouped_windows(records)
    report.records.extend(records)
    good = len(body) - (len(report.failed) - before)
    report.tables.append(TableRead(where, kind, table_marking, max(good, 0)))


def _banner(row: Sequence[str]) -> Marking | None:
    cell = next(c for c in row if c)
    return banner_of_line(cell)


def _cell(row: Sequence[str], columns: Mapping[str, int], name: str) -> str:
    index = columns.get(name)
    return row[index].strip() if index is not None and index < len(row) else ""


def _number(row: Sequence[str], index: int, column: str, factor: float = 1.0) -> float:
    text = row[index].strip() if index < len(row) else ""
    try:
        value = parse_number(text) * factor
    except ValueError as error:
        raise _RowError(column, str(error)) from None
    if value < 0:
        raise _RowError(column, f"{text!r} is negative")
    return value


def _read_row(
    kind: str,
    row: Sequence[str],
    columns: Mapping[str, int],
    classes: Mapping[str, tuple[int, float]],
    table_marking: Marking | None,
    number: int,
) -> list[_Pending]:
    header_of = {index: name for name, index in columns.items()}

    def column(name: str) -> str:
        return name if name in columns else header_of.get(columns.get(name, -1), name)

    stated = _cell(row, columns, "marking")
    marking = table_marking
    if stated:
        try:
            own = parse_marking(stated)
        except MarkingError as error:
            raise _RowError("marking", str(error)) from None
        marking = high_water_mark([own, marking]) if marking is not None else own
    if marking is None:
        raise _RowError("marking", "no marking for this row (and none for the table)")
    for required in _REQUIRED[kind]:
        if required == "location" and not _cell(row, columns, "location"):
            if _cell(row, columns, "lat") or _cell(row, columns, "lon"):
                continue
        if not _cell(row, columns, required):
            raise _RowError(column(required), "empty")

    def amounts(allow_blank: bool) -> dict[str, float]:
        found: dict[str, float] = {}
        for cls, (index, factor) in classes.items():
            text = row[index].strip() if index < len(row) else ""
            if not text and allow_blank:
                continue
            found[cls] = _number(row, index, cls, factor) if text else 0.0
        return found

    def clock(name: str) -> str | None:
        text = _cell(row, columns, name)
        if not text:
            return None
        try:
            return parse_clock(text)
        except ValueError as error:
            raise _RowError(name, str(error)) from None

    def positive(name: str, default: float) -> float:
        if not _cell(row, columns, name):
            return default
        value = _number(row, columns[name], name)
        if value <= 0:
            raise _RowError(name, "must be above zero")
        return value

    place: str | None = None
    record: dict[str, Any] = {}
    if kind in ("depot", "unit"):
        record["name"] = _cell(row, columns, "name")
        location = _cell(row, columns, "location")
        lat_text, lon_text = _cell(row, columns, "lat"), _cell(row, columns, "lon")
        if lat_text or lon_text:
            try:
                lat, lon = parse_number(lat_text), parse_number(lon_text)
            except ValueError as error:
                raise _RowError("lat" if not lat_text else "lon", str(error)) from None
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise _RowError("lat", f"{lat_text}, {lon_text}: out of range")
            record.update(lat=lat, lon=lon, location=location or f"{lat:.5f}, {lon:.5f}")
        else:
            try:
                position = parse_position(location)
            except ValueError as error:
                raise _RowError("location", str(error)) from None
            record["location"] = location
            if position is None:
                place = location
            else:
                record.update(lat=position[0], lon=position[1])
        if kind == "depot":
            record["stock"] = amounts(allow_blank=True)
            record["open"], record["close"] = clock("open"), clock("close")
        else:
            record["demand"] = amounts(allow_blank=True)
            record["service_min"] = positive("service", 20.0) if "service" in columns else 20.0
            windows: list[list[str]] = []
            if _cell(row, columns, "windows"):
                try:
                    windows = parse_span(_cell(row, columns, "windows"))
                except ValueError as error:
                    raise _RowError("windows", str(error)) from None
            opened, closed = clock("open"), clock("close")
            if opened or closed:
                windows.append([opened or "T00:00", closed or "T24:00"])
            record["windows"] = windows
        key = name_key(record["name"])
    elif kind == "vehicle":
        record["name"] = _cell(row, columns, "name")
        record["depot"] = _cell(row, columns, "depot")
        count = positive("count", 1.0)
        if not count.is_integer():
            raise _RowError("count", f"{count:g} is not a whole number of vehicles")
        record["count"] = int(count)
        record["capacity"] = {c: v for c, v in amounts(allow_blank=True).items() if v > 0}
        if not record["capacity"]:
            raise _RowError(None, "no capacity in any supply class (I, III, V, water, medical)")
        record["speed_kmh"] = positive("speed", 50.0)
        shifts: list[list[str]] = []
        if _cell(row, columns, "shifts"):
            try:
                shifts = parse_span(_cell(row, columns, "shifts"))
            except ValueError as error:
                raise _RowError("shifts", str(error)) from None
        started, ended = clock("shift_start"), clock("shift_end")
        if started or ended:
            shifts.append([started or "T00:00", ended or "T24:00"])
        record["shifts"] = shifts
        record["max_hours"] = positive("max_hours", 0.0) or None
        key = name_key(record["name"])
    elif kind == "consumption":
        record["unit"] = _cell(row, columns, "unit")
        try:
            record["date"] = parse_day(_cell(row, columns, "date"))
        except ValueError as error:
            raise _RowError("date", str(error)) from None
        if "class" in columns:
            cls_text = _cell(row, columns, "class")
            cls = _CLASS_OF_WORD.get(_fold(cls_text))
            if cls is None:
                raise _RowError("class", f"{cls_text!r} is not a supply class "
                                         "(I, III, V, water, medical)")  # fmt: skip
            if "quantity" not in columns:
                raise _RowError(None, "a class column needs a quantity column")
            quantities = {cls: _number(row, columns["quantity"], "quantity")}
        else:
            quantities = amounts(allow_blank=True)
            if not quantities:
                raise _RowError(None, "no quantity in any supply class")
        # One record per class and day: a wide and a long table of the same day agree.
        return [
            _Pending(
                number,
                {**record, "class": cls, "quantity": quantity,
                 "_key": f"{name_key(record['unit'])}|{record['date']}|{cls}"},
                marking, None, None,
            )
            for cls, quantity in sorted(quantities.items())
        ]  # fmt: skip
    elif kind == "window":
        record["unit"] = _cell(row, columns, "unit")
        opened, closed = clock("open"), clock("close")
        record["windows"] = [[opened, closed]]
        key = name_key(record["unit"])
    else:  # matrix
        record["from"], record["to"] = _cell(row, columns, "from"), _cell(row, columns, "to")
        record["km"] = _number(row, columns["km"], "km")
        record["minutes"] = (
            _number(row, columns["minutes"], "minutes") if _cell(row, columns, "minutes") else None
        )
        key = f"{name_key(record['from'])}|{name_key(record['to'])}"
    record["_key"] = key
    return [_Pending(number, record, marking, place, _cell(row, columns, "country") or None)]


def _resolve_places(
    where: str,
    kind: str,
    pending: list[_Pending],
    gazetteer: Callable[[], PlaceResolver] | None,
    report: ImportReport,
) -> list[LogisticsRecord]:
    named = [p for p in pending if p.place is not None]
    places: Sequence[Place | None] = []
    if named and gazetteer is not None:
        # One context for the whole table: names settle near each other.
        context = "\n".join(str(p.place) for p in named)
        hints = {p.country.upper() for p in named if p.country}
        places = gazetteer().resolve([str(p.place) for p in named], context, hints)
    resolved = dict(zip((id(p) for p in named), places, strict=False))
    records: list[LogisticsRecord] = []
    for item in pending:
        data = dict(item.record)
        key = data.pop("_key")
        if item.place is not None:
            place = resolved.get(id(item))
            if place is None:
                report.failed.append(BadRow(
                    where, item.row, "location",
                    f"{item.place!r}: no such place in the gazetteer; give MGRS or lat, lon",
                ))  # fmt: skip
                continue
            data.update(lat=place.lat, lon=place.lon)
        records.append(LogisticsRecord(kind, key, item.marking, data, f"{where}:{item.row}"))
    return records


def _grouped_windows(records: list[LogisticsRecord]) -> list[LogisticsRecord]:
    """A windows table's rows, one record per unit and marking holding all its windows."""
    grouped: dict[tuple[str, str], LogisticsRecord] = {}
    for record in records:
        slot = (record.key, str(record.marking))
        if slot in grouped:
            known = grouped[slot]
            windows = [*known.data["windows"], *record.data["windows"]]
            grouped[slot] = LogisticsRecord(
                known.kind, known.key, known.marking, {**known.data, "windows": windows},
                known.origin,
            )  # fmt: skip
        else:
            grouped[slot] = record
    return list(grouped.values())
