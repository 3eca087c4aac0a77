"""G-NetTrack Pro CSV exports → the compact 1 Hz record format the embedded source reads.

Compact format (CSV, gzip): `ts` (Unix seconds, UTC), `cell_index`, `network`, then one column
per KPI in `KPIS`, empty when the app wrote "-". Column mapping as in the dataset's NOTICE.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

# G-NetTrack column → Data Storage KPI name (units: dBm, dB, dB, 0-15, kbps, kbps, ms, km/h).
KPI_COLUMNS = {
    "RSRP": "rsrp",
    "RSRQ": "rsrq",
    "SNR": "sinr",
    "CQI": "cqi",
    "DL_bitrate": "dl_bitrate",
    "UL_bitrate": "ul_bitrate",
    "PINGAVG": "latency",
    "Speed": "velocity",
}
KPIS = tuple(KPI_COLUMNS.values())
COMPACT_HEADER = ("ts", "cell_index", "network", *KPIS)
DEFAULT_TIMEZONE = "Europe/Dublin"  # where the uccmisl data was recorded (GMT in Nov-Feb)


@dataclass
class ImportReport:
    rows: int = 0
    skipped_no_cell: int = 0
    skipped_bad_time: int = 0


def _number(text: str) -> str:
    text = text.strip()
    if text in ("", "-"):
        return ""
    float(text)  # raises ValueError on garbage, so a corrupt file is noticed
    return text


def read_gnettrack(lines: Iterable[str], *, timezone: str = DEFAULT_TIMEZONE,
                   report: ImportReport | None = None) -> Iterator[tuple[str, ...]]:
    """Yield compact records (strings, in COMPACT_HEADER order) from one G-NetTrack CSV."""
    zone = ZoneInfo(timezone)
    report = report if report is not None else ImportReport()
    reader = csv.DictReader(lines)
    missing = {"Timestamp", "RAWCELLID", "NetworkMode", *KPI_COLUMNS} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"not a G-NetTrack export: missing columns {', '.join(sorted(missing))}")
    for row in reader:
        cell = row["RAWCELLID"].strip()
        if not cell.isdigit():
            report.skipped_no_cell += 1
            continue
        try:
            # The export's clock is the phone's local time, without an offset.
            local = datetime.strptime(row["Timestamp"].strip(), "%Y.%m.%d_%H.%M.%S").replace(tzinfo=zone)
        except ValueError:
            report.skipped_bad_time += 1
            continue
        ts = int(local.timestamp())
        report.rows += 1
        yield (str(ts), cell, row["NetworkMode"].strip(), *(_number(row[c]) for c in KPI_COLUMNS))


def write_compact(records: Iterable[tuple[str, ...]], path: Path) -> int:
    """Write records sorted by (cell, time); returns how many were written."""
    rows = sorted(records, key=lambda r: (int(r[1]), int(r[0])))
    path.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0 keeps the gzip bytes identical for identical data (reproducible builds).
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COMPACT_HEADER)
        writer.writerows(rows)
        text.flush()
        text.detach()
    return len(rows)
