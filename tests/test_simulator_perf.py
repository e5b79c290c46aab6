"""The simulator keeps real time with 16 EPOC X headsets at 256 Hz and every stream.

About 6 000 frames per second leave one process; a consumer in another process (so the
two do not share a GIL) counts them. Real time means: every stream delivers its full
rate, frames arrive within a small lag of their sample time, and the simulator's own CPU
use stays well below one core.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
import time

import pytest

HEADSETS = 16
MEASURE_S = 6.0
RATES = {"eeg": 256, "mot": 64, "dev": 2, "eq": 2, "pow": 8, "met": 2, "com": 8, "fac": 32}

CONSUMER = textwrap.dedent(
    """
    import asyncio, json, ssl, sys, time
    from websockets.asyncio.client import connect

    async def main(url, ca, warmup, measure):
        ctx = ssl.create_default_context(cafile=ca)
        async with connect(url, ssl=ctx, compression=None, max_queue=None) as ws:
            rid = 0
            async def call(method, **params):
                nonlocal rid
                rid += 1
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}))
                while True:
                    msg = json.loads(await ws.recv())
                    if msg.get("id") == rid:
                        return msg["result"]
            token = (await call("authorize", clientId="cortex-bridge-demo",
                                clientSecret="cortex-bridge-demo-secret"))["cortexToken"]
            for h in await call("queryHeadsets"):
                s = await call("createSession", cortexToken=token, headset=h["id"], status="active")
                await call("subscribe", cortexToken=token, session=s["id"], streams=STREAMS)
            start = time.time() + warmup
            end = start + measure
            counts, lags = {}, []
            while True:
                msg = json.loads(await ws.recv())
                now = time.time()
                if now >= end:
                    break
                if now < start:
                    continue
                key = next(iter(msg))
                counts[key] = counts.get(key, 0) + 1
                lags.append(now - msg["time"])
            lags.sort()
            print(json.dumps({"counts": counts, "p50": lags[len(lags) // 2],
                              "p99": lags[int(len(lags) * 0.99)]}))

    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
    """
)


@pytest.mark.slow
def test_sixteen_epoc_x_at_256_hz_in_real_time(sim_factory, tmp_path):
    script = tmp_path / "consumer.py"
    script.write_text(CONSUMER.replace("STREAMS", json.dumps(list(RATES))))
    sim = sim_factory(headsets=["epocx:rate=256,status=connected"] * HEADSETS)
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(script), sim.url, str(sim.ca_pem_path), "1.0", str(MEASURE_S)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    wall = time.monotonic() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    for stream, rate in RATES.items():
        expected = HEADSETS * rate * MEASURE_S
        assert report["counts"].get(stream, 0) >= 0.98 * expected, (stream, report["counts"])
    assert report["p50"] < 0.1 and report["p99"] < 0.3, report
    # The test process is (nearly) only the simulator: its CPU time per wall second.
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert cpu / wall < 0.9, f"simulator used {cpu:.1f} s CPU in {wall:.1f} s"
