"""Rebuild telemetry/data/uccmisl-5g/measurements.csv.gz from the published dataset zip.

    python scripts/build_bundled_data.py /path/to/5G-production-dataset.zip [--cells 24]

Keeps every 1 Hz record of the N cells with the most records (by RAWCELLID), mapped to the
Data Storage KPI names (telemetry/gnettrack.py). Nothing is resampled or filled here; the
embedded source aggregates to windows at query time.
"""

from __future__ import annotations

import argparse
import collections
import io
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telemetry.gnettrack import ImportReport, read_gnettrack, write_compact  # noqa: E402

TARGET = Path(__file__).resolve().parent.parent / "telemetry" / "data" / "uccmisl-5g" / "measurements.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("zip_path", type=Path)
    parser.add_argument("--cells", type=int, default=24)
    args = parser.parse_args()

    records, report = [], ImportReport()
    with zipfile.ZipFile(args.zip_path) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".csv") and not n.startswith("__MACOSX"))
        for name in names:
            with archive.open(name) as handle:
                records.extend(read_gnettrack(io.TextIOWrapper(handle, encoding="utf-8"), report=report))
    per_cell = collections.Counter(r[1] for r in records)
    keep = {cell for cell, _ in per_cell.most_common(args.cells)}
    written = write_compact((r for r in records if r[1] in keep), TARGET)
    print(f"{len(names)} files, {report.rows} records, kept {written} records of {len(keep)} cells -> {TARGET}")


if __name__ == "__main__":
    main()
