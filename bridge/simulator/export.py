"""exportRecord's files: CSV (V1/V2), EDF, EDF+ and BDF+ from a record's samples.

What the docs say each format holds (D:exportrecord): EDF -> one EDF of EEG and one of
motion, plus the markers as JSON; EDFPLUS/BDFPLUS -> one EDF+/BDF+ with EEG and motion,
the markers as JSON (and as CSV with ``includeMarkerExtraInfos``); CSV -> files of EEG,
motion, band powers, performance metrics. File names and the CSV header line are not in
the docs [U]: ``<title> <recordId>_<STREAM>.csv``, one metadata line then the column
names, timestamps in epoch seconds. EDF files are written by pyedflib (EDF/EDF+/BDF+,
one library for the three formats).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyedflib

from bridge.simulator.store import Arrays

# exportRecord stream type -> the captured stream and the CSV column prefix.
STREAMS = {
    "EEG": ("eeg", "EEG"),
    "MOTION": ("mot", "MOT"),
    "PM": ("met", "PM"),
    "BP": ("pow", "POW"),
}
EDF_TYPES = {"EDF": pyedflib.FILETYPE_EDF, "EDFPLUS": pyedflib.FILETYPE_EDFPLUS,
             "BDFPLUS": pyedflib.FILETYPE_BDFPLUS}  # fmt: skip
_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def base_name(entry: dict[str, Any]) -> str:
    o = entry["obj"]
    title = _UNSAFE.sub("_", o["title"]).strip() or "record"
    return f"{title} {o['uuid']}"


def write(
    folder: Path,
    entry: dict[str, Any],
    arrays: Arrays,
    fmt: str,
    types: Sequence[str],
    version: str,
    marker_csv: bool,
) -> list[Path]:
    """Write the files for one record; returns their paths."""
    stem = folder / base_name(entry)
    markers = list(entry.get("markers") or [])
    if fmt == "CSV":
        paths = [p for t in types if (p := _csv(stem, entry, arrays, t, version)) is not None]
        if markers:
            paths.append(_markers_csv(stem, markers))
        return paths
    paths = _edf(stem, entry, arrays, fmt, types)
    paths.append(_markers_json(stem, markers))
    if marker_csv and fmt != "EDF":
        paths.append(_markers_csv(stem, markers))
    return paths


def _csv(
    stem: Path, entry: dict[str, Any], arrays: Arrays, stream_type: str, version: str
) -> Path | None:
    key, prefix = STREAMS[stream_type]
    if key not in arrays:
        return None
    cols = [str(c) for c in arrays[f"{key}_cols"]]
    rate = float(arrays[f"{key}_rate"])
    o = entry["obj"]
    path = Path(f"{stem}_{stream_type}.csv")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([f"title:{o['title']}", f"recordId:{o['uuid']}",
                    f"start:{o['startDatetime']}", f"sampling rate:{key}_{rate:g}",
                    f"version:{version}"])  # fmt: skip
        w.writerow(["Timestamp", *(f"{prefix}.{c}" for c in cols)])
        for t, row in zip(arrays[f"{key}_time"].tolist(), arrays[key].tolist(), strict=True):
            w.writerow([f"{t:.4f}", *("" if v != v else _fmt(v) for v in row)])
    return path


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _markers_json(stem: Path, markers: list[dict[str, Any]]) -> Path:
    path = Path(f"{stem}_markers.json")
    path.write_text(json.dumps(markers, indent=1), encoding="utf-8")
    return path


def _markers_csv(stem: Path, markers: list[dict[str, Any]]) -> Path:
    path = Path(f"{stem}_intervalMarker.csv")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["uuid", "type", "label", "value", "port", "startDatetime", "endDatetime",
                    "extras"])  # fmt: skip
        for m in markers:
            w.writerow(
                [
                    m["uuid"],
                    m["type"],
                    m["label"],
                    m["value"],
                    m["port"],
                    m["startDatetime"],
                    m["endDatetime"],
                    json.dumps(m.get("extras", {})),
                ]
            )
    return path


def _edf(
    stem: Path, entry: dict[str, Any], arrays: Arrays, fmt: str, types: Sequence[str]
) -> list[Path]:
    groups: list[tuple[str, list[str]]] = []
    for t in types:
        key = STREAMS[t][0]
        if key in ("eeg", "mot") and key in arrays:
            groups.append((t, [key]))
    if not groups:
        raise ValueError("the record has no EEG or motion samples")
    if fmt == "EDF":
        return [_edf_file(Path(f"{stem}_{t}.edf"), entry, arrays, keys, fmt) for t, keys in groups]
    ext = ".bdf" if fmt == "BDFPLUS" else ".edf"
    keys = [k for _, ks in groups for k in ks]
    return [_edf_file(Path(f"{stem}{ext}"), entry, arrays, keys, fmt)]


def _edf_file(path: Path, entry: dict[str, Any], arrays: Arrays, keys: list[str], fmt: str) -> Path:
    """One EDF/EDF+/BDF+ file with every numeric channel of ``keys``, 1 s data records,
    cut to whole seconds (an EDF data record cannot be partial)."""
    signals: list[npt.NDArray[np.float64]] = []
    headers: list[dict[str, Any]] = []
    seconds = min(int(len(arrays[k]) // float(arrays[f"{k}_rate"])) for k in keys)
    if seconds < 1:
        raise ValueError("the record is shorter than one second")
    bdf = fmt == "BDFPLUS"
    dmax = 8388607 if bdf else 32767
    for k in keys:
        rate = float(arrays[f"{k}_rate"])
        if not rate.is_integer():
            continue  # EDF needs whole samples per 1 s record (MN8's 6.4 Hz motion)
        n = int(rate) * seconds
        for j, col in enumerate(str(c) for c in arrays[f"{k}_cols"]):
            x = np.nan_to_num(arrays[k][:n, j])
            # Whole units outward: EDF headers hold 8 characters per limit.
            lo, hi = float(np.floor(x.min())) - 1.0, float(np.ceil(x.max())) + 1.0
            unit = (
                "uV"
                if k == "eeg"
                and col not in ("COUNTER", "INTERPOLATED", "RAW_CQ", "MARKER_HARDWARE")
                else ""
            )
            headers.append(
                {
                    "label": col[:16],
                    "dimension": unit,
                    "sample_frequency": rate,
                    "physical_max": hi,
                    "physical_min": lo,
                    "digital_max": dmax,
                    "digital_min": -dmax - 1,
                    "transducer": "",
                    "prefilter": "",
                }
            )
            signals.append(np.ascontiguousarray(x, dtype=np.float64))
    writer = pyedflib.EdfWriter(str(path), len(signals), file_type=EDF_TYPES[fmt])
    try:
        writer.setSignalHeaders(headers)
        writer.setEquipment("cortex-bridge simulator")
        writer.setPatientCode(str(entry["obj"].get("subject", {}).get("subjectName", "")))
        if fmt != "EDF":
            t0 = float(arrays[f"{keys[0]}_time"][0])
            for m in entry.get("markers") or []:
                from datetime import datetime

                onset = datetime.fromisoformat(m["startDatetime"]).timestamp() - t0
                if 0 <= onset < seconds:
                    end = datetime.fromisoformat(m["endDatetime"]).timestamp() - t0
                    writer.writeAnnotation(
                        onset, max(0.0, end - onset), f"{m['label']}:{m['value']}"
                    )
        writer.writeSamples(signals)
    finally:
        writer.close()
    return path
