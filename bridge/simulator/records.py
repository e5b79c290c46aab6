"""Records and markers: create/stop/update, post-processing, queries, export, deletion.

A record keeps the samples the simulator generated while it ran (captured when it stops,
see :func:`capture`), so ``exportRecord`` writes the very data a subscriber saw. The
record objects live in the user's :class:`~bridge.simulator.store.UserStore`, so they
outlive the simulator when it has a state directory (D:records: "a record is a permanent
object"). Shapes and codes: ``cortex_api.md`` §7-8 and ``cortex_api_more.md`` §C; what
those mark [U] is listed in ``docs/simulator.md``.
"""

from __future__ import annotations

import bisect
import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.simulator import export
from bridge.simulator.device import STATUS_CONNECTED, VirtualHeadset
from bridge.simulator.headsets import EPOC_SENSORS
from bridge.simulator.jsonrpc import (
    TOKEN,
    Code,
    Param,
    RpcError,
    anything,
    boolean,
    integer,
    num,
    obj,
    s,
    str_list,
)
from bridge.simulator.model import Call, PendingMarker, Record, Session, iso
from bridge.simulator.signals import EegGenerator, SignalSpec
from bridge.simulator.spec import MethodSpec
from bridge.simulator.store import Arrays

if TYPE_CHECKING:
    from bridge.simulator.service import CortexService

MAX_CAPTURE_S = 300.0  # a record keeps at most its last 5 minutes of samples [U: ours]
EXPORT_FORMATS = ("EDF", "EDFPLUS", "BDFPLUS", "CSV")
STREAM_TYPES = ("EEG", "MOTION", "PM", "BP")
CSV_VERSIONS = ("V1", "V2")
SYNC_STATUSES = ("neverUploaded", "notDownloaded", "downloaded")


def _not_found(record_id: Any) -> RpcError:
    # D:error-codes describes "a record that doesn't exist, or ... you don't have the
    # permission" without a recoverable number: -32602 (invalid value) [U number].
    return RpcError(
        Code.INVALID_PARAMS,
        f"The record {record_id} does not exist or you don't have the permission to access it.",
    )


def _entry(svc: CortexService, record_id: Any) -> dict[str, Any] | None:
    entry = svc.store.records.get(str(record_id))
    return entry if isinstance(entry, dict) else None


def _visible(entry: Mapping[str, Any], app_id: str, licence_ids: list[str] | None) -> bool:
    """Your own records; another app's only with its licence id (D:exportrecord)."""
    if entry["obj"]["applicationId"] == app_id:
        return True
    return bool(licence_ids) and entry["obj"]["licenseId"] in (licence_ids or [])


# ---- createRecord / stopRecord / updateRecord ----------------------------------------


def create_record(svc: CortexService, call: Call) -> Any:
    p = call.params
    session = svc.session_for(call, p["session"])
    if session.status != "activated":
        raise RpcError(Code.SESSION_NOT_ACTIVATED)
    if session.record is not None:
        raise RpcError(Code.RECORD_IN_PROGRESS)
    title = p["title"]
    if not title or len(title) > 200:
        raise RpcError(Code.INVALID_PARAMS, "The title must have 1 to 200 characters.")
    h = session.headset
    record_obj: dict[str, Any] = {
        "applicationId": session.app_id,
        "applicationVersion": "1.0",
        "description": p.get("description") or "",
        "endDatetime": "",
        "experimentId": p.get("experimentId") or 0,
        "headbandPosition": h.headband_position,
        "licenseId": svc.licence_id,
        "licenseScope": list(svc.cfg.licence_scopes),
        "localOnly": bool(svc.store.data.get("optOut")),
        "ownerId": svc.user_id,
        "startDatetime": iso(svc.epoch_now(), "microseconds"),
        "tags": list(p.get("tags") or []),
        "title": title,
        "uuid": svc.new_uuid(),
    }
    if p.get("subjectName"):
        record_obj["subject"] = {"subjectName": p["subjectName"]}
    record = Record(record_obj, session.app_id, session.id, start_mono=call.mono, headset=h)
    svc.records[record_obj["uuid"]] = record
    svc.store.records[record_obj["uuid"]] = {
        "obj": record_obj,
        "markers": [],
        "sync": "neverUploaded",
        "exportable": False,
        "headsetId": h.id,
    }
    svc.store.save()
    session.record = record
    session.record_ids.append(record_obj["uuid"])
    return {"record": record_obj, "sessionId": session.id}


def stop_record(svc: CortexService, call: Call) -> Any:
    session = svc.session_for(call, call.params["session"])
    if session.record is None:
        raise RpcError(Code.NO_RECORD)
    record = svc.finish_record(session)
    return {"record": record.obj, "sessionId": session.id}


def update_record(svc: CortexService, call: Call) -> Any:
    assert call.claims is not None
    entry = _entry(svc, call.params["record"])
    if entry is None or entry["obj"]["applicationId"] != call.claims.app_id:
        raise _not_found(call.params["record"])
    for key in ("title", "description", "tags"):
        if call.params.get(key) is not None:
            entry["obj"][key] = call.params[key]
    svc.store.save()
    return entry["obj"]


def record_finished(svc: CortexService, session: Session, record: Record) -> None:
    """Keep the samples, then post-process: warning 18 ("The record data has been
    successfully saved", D) and 30 (export allowed, E python/record.py), both with the
    record id [U for 18's payload]."""
    rid = record.obj["uuid"]
    arrays = capture(svc, record)
    if arrays is not None:
        svc.store.put_samples(rid, arrays)
    entry = svc.store.records.get(rid)
    if entry is not None:
        entry["markers"] = list(record.markers.values())
    svc.store.save()
    conn_id, half = session.conn, svc.cfg.post_processing_s / 2.0
    now = svc.clock.monotonic()

    def saved() -> None:
        svc.warn(
            conn_id,
            18,
            {"behavior": "The record data has been successfully saved.", "recordId": rid},
        )

    def processed() -> None:
        record.exportable = True
        if entry is not None:
            entry["exportable"] = True
            svc.store.save()
        svc.warn(
            conn_id, 30, {"behavior": "The post-processing of the record is done.", "recordId": rid}
        )

    svc.at(now + half, saved)
    svc.at(now + 2 * half, processed)


def capture(svc: CortexService, record: Record) -> Arrays | None:
    """The samples the headset produced while the record ran (its last
    :data:`MAX_CAPTURE_S` seconds), regenerated from the same index-addressed sources
    the streams use, so they equal what a subscriber received."""
    h = record.headset
    if h is None or (h.status != STATUS_CONNECTED and not h.lost):
        return None
    start = max(record.start_mono, record.end_mono - MAX_CAPTURE_S)
    out: Arrays = {}
    for stream, rate in (("eeg", h.eeg_rate), ("mot", h.mems_rate), ("pow", 8.0), ("met", 2.0)):
        if rate <= 0:
            continue
        k0 = max(0, math.ceil((start - h.mono_anchor) * rate))
        k1 = max(k0, math.floor((record.end_mono - h.mono_anchor) * rate) + 1)
        rows = h.rows(stream, k0, k1, float(rate), svc.met_cols)
        if not rows:
            continue
        ks = np.array([k for k, _ in rows], dtype=np.float64)
        out[f"{stream}_time"] = np.round(h.epoch_anchor + ks / rate, 4)
        out[f"{stream}_cols"] = np.array(_flat_cols(h, stream, svc))
        out[stream] = np.array([_numeric(stream, row) for _, row in rows], dtype=np.float64)
        out[f"{stream}_rate"] = np.array(float(rate))
    return out or None


def _flat_cols(h: VirtualHeadset, stream: str, svc: CortexService) -> list[str]:
    cols = h.cols(stream, svc.cfg.met_layout)
    if stream == "eeg":
        return [str(c) for c in cols[:-1]]  # MARKERS is exported apart
    return [str(c) for c in cols]


def _numeric(stream: str, row: list[Any]) -> list[float]:
    values = row[:-1] if stream == "eeg" else row
    return [float("nan") if v is None else float(v) for v in values]


# ---- markers -------------------------------------------------------------------------


def _marker_value_ok(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def inject_marker(svc: CortexService, call: Call) -> Any:
    """The marker goes into the ``MARKERS`` column of the EEG sample nearest its time;
    if that sample has already been sent, into the next one sent. ``state()`` keeps the
    true nearest index beside the index it was actually sent with."""
    p = call.params
    session = svc.session_for(call, p["session"])
    record = session.record
    if record is None:
        raise RpcError(Code.NO_RECORD, "You must create a record before injecting a marker.")
    h = session.headset
    time_s = float(p["time"]) / 1000.0
    if time_s < h.clock_at(call.mono) - svc.cfg.marker_window_s:
        raise RpcError(Code.MARKER_TOO_OLD)
    k = h.nearest_eeg_index(time_s)
    marker_id = svc.new_uuid()
    start = iso(time_s, "microseconds")
    port = p.get("port") or "Software"
    extras = dict(p.get("extras") or {})
    marker = {
        "endDatetime": start,
        "extras": extras,
        "label": p["label"],
        "port": port,
        "startDatetime": start,
        "type": "instance",
        "uuid": marker_id,
        "value": p["value"],
    }
    record.markers[marker_id] = marker
    entry: dict[str, Any] = {
        "uuid": marker_id,
        "sessionId": session.id,
        "recordId": record.obj["uuid"],
        "label": p["label"],
        "value": p["value"],
        "timeMs": p["time"],
        "sampleIndex": k,
        "sampleTime": round(h.eeg_time(k), 6),
        "monoTime": round(h.mono_anchor + (time_s - h.epoch_anchor), 6),
        "sentIndex": None,
        "sentTime": None,
    }
    h.markers.append(entry)
    sub = session.subs.get("eeg")
    if sub is not None:
        wire = {
            "applicationId": session.app_id,
            "extras": extras,
            "label": p["label"],
            "port": port,
            "recordId": record.obj["uuid"],
            "startDatetime": start,
            "type": "instance",
            "uuid": marker_id,
            "value": p["value"],
        }
        bisect.insort(sub.markers, PendingMarker(k, entry, wire), key=lambda m: m.k)
    return {"marker": marker, "recordId": record.obj["uuid"], "sessionId": session.id}


def update_marker(svc: CortexService, call: Call) -> Any:
    p = call.params
    session = svc.session_for(call, p["session"])
    record = session.record
    if record is None:
        raise RpcError(Code.NO_RECORD)
    marker = record.markers.get(p["markerId"])
    if marker is None:
        # No documented number for an unknown marker: -32602 (invalid value) [U].
        raise RpcError(Code.INVALID_PARAMS, f"The marker {p['markerId']} does not exist.")
    marker["type"] = "interval"
    marker["endDatetime"] = iso(float(p["time"]) / 1000.0, "microseconds")
    if p.get("extras") is not None:
        marker["extras"] = dict(p["extras"])
    return {"marker": marker, "recordId": record.obj["uuid"], "sessionId": session.id}


# ---- queries, deletion, download, opt-out --------------------------------------------


def query_records(svc: CortexService, call: Call) -> Any:
    """``{count, limit, offset, records}``; ``query`` {} = this app's records, with
    ``licenseId``/``applicationId`` another app's (E python/query_records.py)."""
    assert call.claims is not None
    p = call.params
    query = p["query"]
    app = str(query.get("applicationId") or call.claims.app_id)
    licence = query.get("licenseId")
    found = []
    for entry in svc.store.records.values():
        o = entry["obj"]
        if o["applicationId"] != app or (licence and o["licenseId"] != licence):
            continue
        if not _matches(o, query):
            continue
        item = dict(o)
        if p.get("includeMarkers"):
            item["markers"] = list(entry["markers"])
        if p.get("includeSyncStatusInfo"):
            item["syncStatus"] = {"status": entry["sync"]}
        found.append(item)
    for order in reversed(p["orderBy"]):
        if not isinstance(order, dict) or len(order) != 1:
            raise RpcError(Code.INVALID_PARAMS, 'orderBy items look like {"startDatetime": "DESC"}')
        ((key, direction),) = order.items()
        found.sort(key=lambda r: str(r.get(key, "")), reverse=str(direction).upper() == "DESC")
    offset, limit = int(p.get("offset") or 0), int(p.get("limit") or 0)
    page = found[offset : offset + limit] if limit else found[offset:]
    return {"count": len(found), "limit": limit, "offset": offset, "records": page}


def _matches(o: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Query keys beyond licenseId/applicationId [U]: ``keyword`` (title/description),
    ``startDatetime`` {``from``, ``to``} (ISO strings) and ``uuids``."""
    keyword = query.get("keyword")
    if keyword and keyword.lower() not in (o["title"] + " " + o["description"]).lower():
        return False
    window = query.get("startDatetime")
    if isinstance(window, dict):
        if window.get("from") and o["startDatetime"] < window["from"]:
            return False
        if window.get("to") and o["startDatetime"] > window["to"]:
            return False
    uuids = query.get("uuids")
    return not (isinstance(uuids, list) and o["uuid"] not in uuids)


def get_record_infos(svc: CortexService, call: Call) -> Any:
    """Record objects with their markers [U shape: the docs page was not recovered]."""
    assert call.claims is not None
    out = []
    for rid in call.params["recordIds"]:
        entry = _entry(svc, rid)
        if entry is None or not _visible(entry, call.claims.app_id, None):
            raise _not_found(rid)
        live = next((x.record for x in svc.live_sessions()
                     if x.record is not None and x.record.obj["uuid"] == rid), None)
        # A record still in progress has its markers so far (Cortex writes the stored
        # record's markers when it stops).
        markers = list(live.markers.values()) if live is not None else list(entry["markers"])
        out.append({**entry["obj"], "markers": markers})
    return out


def delete_record(svc: CortexService, call: Call) -> Any:
    """``{success:[{recordId}], failure:[{recordId, code, message}]}`` [U]."""
    assert call.claims is not None
    ids = call.params.get("records") or call.params.get("recordIds")
    if not ids:
        raise RpcError(Code.MISSING_PARAMS, "This parameter is required: records")
    success, failure = [], []
    for rid in ids:
        entry = _entry(svc, rid)
        live = any(
            s.record is not None and s.record.obj["uuid"] == rid for s in svc.live_sessions()
        )
        if entry is None or not _visible(entry, call.claims.app_id, None) or live:
            err = RpcError(Code.RECORD_IN_PROGRESS) if live and entry else _not_found(rid)
            failure.append(
                {"code": err.code, "message": err.behavior or err.message, "recordId": rid}
            )
            continue
        del svc.store.records[rid]
        svc.store.delete_samples(rid)
        svc.records.pop(rid, None)
        success.append({"recordId": rid})
    svc.store.save()
    return {"failure": failure, "success": success}


def request_download(svc: CortexService, call: Call) -> Any:
    """Download a cloud record's data here (D records PDF): ``notDownloaded`` becomes
    ``downloaded`` and exportable. Synchronous in the simulator [U]."""
    assert call.claims is not None
    success, failure = [], []
    for rid in call.params["recordIds"]:
        entry = _entry(svc, rid)
        if entry is None or not _visible(entry, call.claims.app_id, None):
            failure.append({"message": _not_found(rid).behavior, "recordId": rid})
            continue
        if entry["sync"] == "notDownloaded":
            svc.store.put_samples(rid, _cloud_samples(svc, entry))
            entry["sync"] = "downloaded"
            entry["exportable"] = True
        success.append({"recordId": rid})
    svc.store.save()
    return {"failure": failure, "success": success}


def config_opt_out(svc: CortexService, call: Call) -> Any:
    """``status`` get/set, ``newOptOut`` for set (D records PDF names newOptOut; the rest
    of the shape is [U])."""
    status = call.params["status"]
    if status == "set":
        if call.params.get("newOptOut") is None:
            raise RpcError(Code.MISSING_PARAMS, "This parameter is required: newOptOut")
        svc.store.data["optOut"] = bool(call.params["newOptOut"])
        svc.store.save()
    elif status != "get":
        raise RpcError(Code.INVALID_PARAMS, 'The status must be "get" or "set".')
    opt_out = bool(svc.store.data.get("optOut"))
    return {"message": f"The opt-out is {'on' if opt_out else 'off'}.", "optOut": opt_out}


# ---- exportRecord --------------------------------------------------------------------


def export_record(svc: CortexService, call: Call) -> Any:
    """Write real files from the record's samples (D:exportrecord; formats in
    export.py). Per record: a failure before post-processing ended (warning 30) [U code]."""
    assert call.claims is not None
    p = call.params
    fmt, types = p["format"], p["streamTypes"]
    if fmt not in EXPORT_FORMATS:
        raise RpcError(
            Code.INVALID_PARAMS, f"The format must be one of {', '.join(EXPORT_FORMATS)}."
        )
    bad = [t for t in types if t not in STREAM_TYPES]
    if not types or bad:
        raise RpcError(Code.INVALID_PARAMS, f"streamTypes must be among {', '.join(STREAM_TYPES)}.")
    version = p.get("version")
    if fmt == "CSV" and version is not None and version not in CSV_VERSIONS:
        raise RpcError(Code.INVALID_PARAMS, 'The version must be "V1" or "V2".')
    if fmt != "CSV" and version is not None:
        raise RpcError(Code.INVALID_PARAMS, "The version is only for the CSV format.")
    if fmt == "EDF" and set(types) - {"EEG", "MOTION"}:
        raise RpcError(Code.INVALID_PARAMS, "The EDF format can only export EEG and MOTION.")
    folder = Path(p["folder"])
    if not folder.is_dir():
        raise RpcError(Code.INVALID_PARAMS, f"The folder {folder} does not exist.")
    licences = list(p.get("licenseIds") or [])
    success, failure = [], []
    for rid in p["recordIds"]:
        entry = _entry(svc, rid)
        if entry is None or not _visible(entry, call.claims.app_id, licences):
            failure.append({"message": _not_found(rid).behavior, "recordId": rid})
            continue
        arrays = svc.store.get_samples(rid)
        if not entry.get("exportable") or arrays is None:
            why = (
                "The record data is not downloaded."
                if entry["sync"] == "notDownloaded"
                else "The record is still being post-processed; wait for warning 30."
            )
            failure.append({"message": why, "recordId": rid})
            continue
        try:
            export.write(
                folder,
                entry,
                arrays,
                fmt,
                types,
                version or "V2",
                bool(p.get("includeMarkerExtraInfos")),
            )
        except (OSError, ValueError) as exc:
            failure.append({"message": f"Export failed: {exc}", "recordId": rid})
            continue
        success.append({"recordId": rid})
    return {"failure": failure, "success": success}


# ---- records of this user made elsewhere ---------------------------------------------


def seed_cloud_records(svc: CortexService) -> None:
    """``cloud_records`` records of the configured app, uploaded from another computer
    and not downloaded here (syncStatus ``notDownloaded``), made once per store."""
    have = sum(1 for e in svc.store.records.values() if e.get("cloud"))
    app_id = f"com.{svc.cfg.username}.{svc.cfg.client_id}"
    for i in range(have, svc.cfg.cloud_records):
        start = svc.started_epoch - 86400.0 * (i + 1)
        rid = svc.new_uuid()
        svc.store.records[rid] = {
            "obj": {
                "applicationId": app_id, "applicationVersion": "1.0",
                "description": "recorded on another computer", "endDatetime": iso(start + 30, "microseconds"),
                "experimentId": 0, "headbandPosition": "back", "licenseId": svc.licence_id,
                "licenseScope": list(svc.cfg.licence_scopes), "localOnly": False,
                "ownerId": svc.user_id, "startDatetime": iso(start, "microseconds"),
                "tags": ["cloud"], "title": f"cloud record {i + 1}", "uuid": rid,
            },
            "markers": [], "sync": "notDownloaded", "exportable": False, "cloud": True,
            "headsetId": "EPOCX-C10D0000",
        }  # fmt: skip
    if svc.cfg.cloud_records > have:
        svc.store.save()


def _cloud_samples(svc: CortexService, entry: Mapping[str, Any]) -> Arrays:
    """30 s of 128 Hz EPOC X EEG for a downloaded cloud record (its data never passed
    through this simulator)."""
    rate, n = 128, 30 * 128
    seed = zlib.crc32(entry["obj"]["uuid"].encode())
    gen = EegGenerator(EPOC_SENSORS, rate, (svc.seed % (1 << 31), seed), SignalSpec())
    values = np.round(gen.get(0, n), 3)
    t0 = _epoch_of(entry["obj"]["startDatetime"])
    k = np.arange(n, dtype=np.float64)
    eeg = np.column_stack([k % rate, np.zeros(n), values, np.zeros(n), np.zeros(n)])
    return {
        "eeg_time": np.round(t0 + k / rate, 4),
        "eeg_cols": np.array(
            ["COUNTER", "INTERPOLATED", *EPOC_SENSORS, "RAW_CQ", "MARKER_HARDWARE"]
        ),
        "eeg": eeg,
        "eeg_rate": np.array(float(rate)),
    }


def _epoch_of(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


_RECORD_IDS = Param(
    "recordIds",
    lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "an array of strings",
)
_MARKER_VALUE = Param("value", _marker_value_ok, "a string or an integer >= 0")
_ORDER_BY = Param("orderBy", lambda v: isinstance(v, list), "an array of objects")

METHODS: Mapping[str, MethodSpec] = {
    "createRecord": MethodSpec(
        (TOKEN, s("session"), s("title"), s("description", False), s("subjectName", False),
         str_list("tags", False), num("experimentId", False)),
        create_record, token=True,
    ),
    "stopRecord": MethodSpec((TOKEN, s("session")), stop_record, token=True),
    "updateRecord": MethodSpec(
        (TOKEN, s("record"), s("title", False), s("description", False), str_list("tags", False)),
        update_record, token=True,
    ),
    "injectMarker": MethodSpec(
        (TOKEN, s("session"), num("time"), _MARKER_VALUE, s("label"), s("port", False),
         obj("extras", False)),
        inject_marker, token=True,
    ),
    "updateMarker": MethodSpec(
        (TOKEN, s("session"), s("markerId"), num("time"), obj("extras", False)),
        update_marker, token=True,
    ),
    "queryRecords": MethodSpec(
        (TOKEN, obj("query"), _ORDER_BY, integer("limit", False), integer("offset", False),
         boolean("includeMarkers", False), boolean("includeSyncStatusInfo", False)),
        query_records, token=True,
    ),
    "getRecordInfos": MethodSpec((TOKEN, _RECORD_IDS), get_record_infos, token=True),
    "deleteRecord": MethodSpec(
        (TOKEN, str_list("records", False), str_list("recordIds", False)), delete_record,
        token=True,
    ),
    "exportRecord": MethodSpec(
        (TOKEN, _RECORD_IDS, s("folder"), str_list("streamTypes"), s("format"),
         s("version", False), str_list("licenseIds", False),
         boolean("includeMarkerExtraInfos", False), boolean("includeDemographics", False),
         boolean("includeSurvey", False)),
        export_record, token=True,
    ),
    "requestToDownloadRecordData": MethodSpec((TOKEN, _RECORD_IDS), request_download, token=True),
    "configOptOut": MethodSpec(
        (TOKEN, s("status"), anything("newOptOut", False)), config_opt_out, token=True
    ),
}  # fmt: skip
