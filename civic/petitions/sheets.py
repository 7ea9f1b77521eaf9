"""Reading a sheet of paper signatures: CSV (UTF-8, with or without BOM, comma or semicolon) or XLSX.

Untrusted files: an XLSX is refused when it would unzip past MAX_UNZIPPED_BYTES (zip bombs), and openpyxl
parses XML through defusedxml when it is installed (it is a dependency of Civic).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Generator
from datetime import date, datetime

import openpyxl

from civic.errors import Invalid
from civic.i18n import N_

MAX_ROWS = 5_000
MAX_ROWS_READ = 2 * MAX_ROWS  # rows read in all, blank ones included
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_UNZIPPED_BYTES = 40 * 1024 * 1024  # an XLSX of 5,000 rows is far smaller; refuses zip bombs
_UNREADABLE = N_("The file could not be read. Please check that it is a CSV or XLSX file and try again.")


class BadSheet(Invalid):
    """A file that cannot be imported at all; nothing is saved. missing_columns: required columns not found."""

    def __init__(self, message: str, missing_columns: tuple[str, ...] = ()) -> None:
        super().__init__({"file": [message]}, message)
        self.missing_columns = missing_columns


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _csv_rows(content: bytes) -> Generator[list[str], None, None]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadSheet(N_(
            "The file is not UTF-8 text. In your spreadsheet, save it as “CSV UTF-8”, or as XLSX.")) from None
    if "\x00" in text:
        raise BadSheet(_UNREADABLE)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error:
        raise BadSheet(_UNREADABLE) from None


def _xlsx_rows(content: bytes) -> Generator[list[str], None, None]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise BadSheet(_UNREADABLE)
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except BadSheet:
        raise
    except Exception:  # any failure to open an untrusted file means "unreadable"
        raise BadSheet(_UNREADABLE) from None
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers record wrong dimensions; read what is really there
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    except BadSheet:
        raise
    except Exception:  # malformed sheet XML
        raise BadSheet(_UNREADABLE) from None
    finally:
        workbook.close()


def read_sheet(filename: str, content: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank data rows (numbered as in the sheet, header = 1) of a CSV or XLSX file.

    The type is told by the content (an XLSX is a zip archive) and the extension. Raises BadSheet for
    no file, another type, a file that cannot be read, no data rows, or more than MAX_ROWS data rows.
    """
    if not content:
        raise BadSheet(N_("Please choose a CSV or XLSX file to import."))
    if len(content) > MAX_FILE_BYTES:
        raise BadSheet(N_("The file is larger than 2 MB. Please split it into smaller files."))
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if content.startswith(b"PK\x03\x04") or extension == "xlsx":
        rows = _xlsx_rows(content)
    elif extension in ("csv", "txt", ""):
        rows = _csv_rows(content)
    else:
        raise BadSheet(N_("Only CSV and XLSX files can be imported. In your spreadsheet, use “Save as” and choose "
                          "CSV UTF-8 or XLSX."))
    header: list[str] | None = None
    data: list[tuple[int, list[str]]] = []
    try:
        for number, cells in enumerate(rows, start=1):
            if header is None:
                header = cells
                continue
            if number > MAX_ROWS_READ:  # blank rows count too: a sheet of empty rows must not run for long
                raise BadSheet(N_("The file has more than 5,000 rows. Please split it into smaller files."))
            if not any(c.strip() for c in cells):
                continue
            if len(data) >= MAX_ROWS:
                raise BadSheet(N_("The file has more than 5,000 rows. Please split it into smaller files."))
            data.append((number, cells))
    finally:
        rows.close()
    if header is None or not data:
        raise BadSheet(N_("The file has no signatures below the header row."))
    return header, data
