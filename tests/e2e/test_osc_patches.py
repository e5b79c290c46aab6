"""The shipped patches: Pure Data (structure, and a headless run when ``pd`` exists) and
Max (JSON structure: objects, routes, connections)."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from osc_receivers import free_udp_port, receiver_path

from bridge.config import OscSettings
from bridge.outputs.osc import OscOutput
from bridge.streams import HeadsetInfo, build_plan

PATCHES = Path(__file__).resolve().parents[2] / "patches"
PD_PATCH = PATCHES / "cortex-bridge.pd"
MAX_PATCH = PATCHES / "cortex-bridge.maxpat"


def pd_records(text: str) -> list[list[str]]:
    """A .pd file as records (split at unescaped ';'), each a list of atoms."""
    records = re.split(r"(?<!\\);\s*\n?", text.strip())
    return [record.split() for record in records if record.strip()]


def test_pd_patch_structure() -> None:
    records = pd_records(PD_PATCH.read_text(encoding="utf-8"))
    assert records[0][:2] == ["#N", "canvas"]
    boxes = [r for r in records[1:] if r[0] == "#X" and r[1] != "connect"]
    connects = [r for r in records if r[:2] == ["#X", "connect"]]
    objects = [" ".join(b[4:]) if b[1] == "obj" else b[1] for b in boxes]
    assert "netreceive -u -b 9000" in objects
    assert "oscparse" in objects and "list trim" in objects
    assert "route emotiv" in objects
    assert "route met pow com fac status" in objects
    assert objects.count("symbolatom") == 4 and objects.count("floatatom") == 4 + 5
    # The labels and band averages are routed; on load the patch asks for the labels.
    assert "route labels" in objects and "route labels theta alpha betaL betaH gamma" in objects
    assert "oscformat emotiv labels request" in objects and "netsend -u -b" in objects
    for record in connects:
        src, outlet, dst, inlet = map(int, record[2:6])
        assert 0 <= src < len(boxes) and 0 <= dst < len(boxes), record
        for index, port in ((src, outlet), (dst, inlet)):
            kind = boxes[index][1]
            assert kind in ("obj", "msg", "floatatom", "symbolatom"), record
            if boxes[index][4:5] == ["route"] and index == src:
                assert port <= len(boxes[index]) - 5  # N selectors + the reject outlet
    # netreceive -> oscparse -> list trim -> route emotiv -> route met ...
    chain = [objects.index(o) for o in ("netreceive -u -b 9000", "oscparse", "list trim",
                                        "route emotiv", "route met pow com fac status")]
    for a, b in itertools.pairwise(chain):
        assert ["#X", "connect", str(a), "0", str(b), "0"] in connects


def test_pd_patch_runs_headless_and_decodes_our_messages(tmp_path: Path) -> None:
    pd = receiver_path("pd", "puredata-core")
    port = free_udp_port()
    patch = tmp_path / "bridge.pd"
    patch.write_text(
        PD_PATCH.read_text(encoding="utf-8").replace("-b 9000", f"-b {port}"), encoding="utf-8"
    )
    proc = subprocess.Popen(
        [pd, "-nogui", "-noaudio", "-nomidi", "-stderr", "-open", str(patch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = OscOutput(OscSettings(enabled=True, targets=(f"127.0.0.1:{port}",)),
                    multi_headset=False)
    out.open()
    headset = HeadsetInfo("EPOCX-1", "EPOCX")
    plan = build_plan("com", ["act", "pow"], headset)
    (sink,) = out.sinks_for(plan, headset)
    try:
        for _ in range(30):  # Pd needs a moment to open the patch and bind the port
            out.send_status("EPOCX-1", True)
            sink(plan.extract(["push", 0.5]), 1.0)
            time.sleep(0.1)
    finally:
        out.close()
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert "cortex-bridge-status: 1" in output, output
    assert "couldn't create" not in output and "error" not in output.lower(), output


def test_pd_patch_asks_for_labels_and_shows_them(tmp_path: Path) -> None:
    """Pd opens the patch, its loadbang sends /emotiv/labels/request to the bridge's
    request port, the bridge answers with the labels, and Pd decodes the metric names."""
    pd = receiver_path("pd", "puredata-core")
    port, request_port = free_udp_port(), free_udp_port()
    patch = tmp_path / "bridge.pd"
    patch.write_text(
        PD_PATCH.read_text(encoding="utf-8").replace("-b 9000", f"-b {port}")
        .replace("127.0.0.1 7403", f"127.0.0.1 {request_port}"),
        encoding="utf-8",
    )
    headset = HeadsetInfo("EPOCX-1", "EPOCX")
    plan = build_plan("met", ["attention.isActive", "attention", "eng.isActive", "eng"], headset)

    async def run() -> int:
        out = OscOutput(OscSettings(enabled=True, targets=(f"127.0.0.1:{port}",),
                                    listen=f"127.0.0.1:{request_port}"), multi_headset=False)
        out.open()
        try:
            out.sinks_for(plan, headset)  # labels now: Pd is not listening yet
            proc = await asyncio.create_subprocess_exec(
                pd, "-nogui", "-noaudio", "-nomidi", "-stderr", "-open", str(patch),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            try:
                for _ in range(100):
                    await asyncio.sleep(0.1)
                    if out.requests:
                        break
                await asyncio.sleep(0.5)
            finally:
                proc.terminate()
                output, _ = await proc.communicate()
            text = output.decode()
            assert "cortex-bridge-met-labels: attention.isActive attention eng.isActive eng" \
                in text, text
            assert "couldn't create" not in text and "error" not in text.lower(), text
            return out.requests
        finally:
            out.close()

    assert asyncio.run(run()) >= 1


def _boxes(patcher: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["box"]["id"]: b["box"] for b in patcher["boxes"]}


def test_max_patch_structure() -> None:
    patcher = json.loads(MAX_PATCH.read_text(encoding="utf-8"))["patcher"]
    boxes = _boxes(patcher)
    texts = {box.get("text", "") for box in boxes.values() if box["maxclass"] == "newobj"}
    assert "udpreceive 9000" in texts
    route = next(b for b in boxes.values() if b.get("text", "").startswith("route "))
    selectors = route["text"].split()[1:]
    assert {"/emotiv/met", "/emotiv/pow", "/emotiv/com/action", "/emotiv/status"} <= set(
        selectors
    )
    assert route["numoutlets"] == len(selectors) + 1
    wired: set[tuple[str, int]] = set()
    for line in patcher["lines"]:
        (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
        assert src in boxes and dst in boxes
        assert 0 <= outlet < boxes[src]["numoutlets"]
        assert 0 <= inlet < boxes[dst]["numinlets"]
        wired.add((src, outlet))
    udp = next(i for i, b in boxes.items() if b.get("text") == "udpreceive 9000")
    assert (udp, 0) in wired
    route_id = route["id"]
    # Every selector goes to a display (message box via prepend set, or a number box).
    for outlet in range(len(selectors)):
        assert (route_id, outlet) in wired, selectors[outlet]
    displays = {b["maxclass"] for b in boxes.values()}
    assert {"message", "number", "flonum"} <= displays
    # The labels and band averages are routed, and the patch asks for the labels on load.
    assert {"/emotiv/met/labels", "/emotiv/pow/alpha", "/emotiv/eeg/electrodes/labels"} <= set(
        selectors
    )
    texts_all = {box.get("text", "") for box in boxes.values()}
    assert "udpsend 127.0.0.1 7403" in texts_all and "/emotiv/labels/request" in texts_all
    ids = {b.get("text", ""): i for i, b in boxes.items()}
    lines = {(tuple(ln["patchline"]["source"]), tuple(ln["patchline"]["destination"]))
             for ln in patcher["lines"]}
    assert ((ids["loadbang"], 0), (ids["/emotiv/labels/request"], 0)) in lines
    assert ((ids["/emotiv/labels/request"], 0), (ids["udpsend 127.0.0.1 7403"], 0)) in lines
