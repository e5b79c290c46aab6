"""Synthetic signals that look like a headset's, reproducible under a seed.

Every value is a function of (seed, headset, sample index) and never of when or in what
blocks it was asked for, so two runs with the same ``--seed`` send identical data however
the event loop happens to tick. Noise comes from generators seeded per block of sample
indices; everything else is closed-form in time plus hashed pseudo-random choices per
time segment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bridge.simulator.headsets import BANDS, MOTION_LAYOUTS

FloatArray = npt.NDArray[np.float64]

EEG_OFFSET_UV = 4200.0  # Cortex's raw EEG sits around 4200 µV (issue #162).
_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def hash01(*parts: int) -> float:
    """A uniform number in [0, 1) determined only by ``parts`` (cheap, no RNG state)."""
    h = 0x243F6A8885A308D3
    for p in parts:
        h = _splitmix64(h ^ (p & _MASK64))
    return (h >> 11) / float(1 << 53)


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """What the EEG looks like: ``realistic`` (alpha + 1/f) or a pure ``sine``."""

    kind: str = "realistic"
    freq: float = 10.0
    amplitude: float = 50.0


def parse_signal(text: str) -> SignalSpec:
    """``realistic`` or ``sine:FREQ[:AMPLITUDE_UV]`` (e.g. ``sine:10`` or ``sine:10:20``)."""
    kind, _, rest = text.strip().partition(":")
    if kind == "realistic" and not rest:
        return SignalSpec()
    if kind == "sine":
        parts = rest.split(":") if rest else []
        if not 1 <= len(parts) <= 2:
            raise ValueError("sine needs a frequency: sine:FREQ[:AMPLITUDE]")
        freq = float(parts[0])
        amp = float(parts[1]) if len(parts) == 2 else 50.0
        if not (math.isfinite(freq) and math.isfinite(amp)) or freq <= 0 or amp < 0:
            raise ValueError("sine frequency must be > 0 and amplitude >= 0")
        return SignalSpec("sine", freq, amp)
    raise ValueError(f"unknown signal {text!r} (realistic or sine:FREQ[:AMPLITUDE])")


class IndexNoise:
    """Gaussian noise addressed by sample index: block ``b`` always comes from its own
    generator seeded with ``(seed..., b)``, so a sample's noise never depends on which
    ranges were asked for before (reproducible whatever the tick pattern)."""

    _CACHE_BLOCKS = 48

    def __init__(self, seed: Sequence[int], width: int, block: int) -> None:
        self._seed = [int(x) for x in seed]
        self._width = width
        self._block = block
        self._cache: dict[int, FloatArray] = {}

    def get(self, k0: int, k1: int) -> FloatArray:
        if k1 <= k0:
            return np.empty((0, self._width))
        bs = self._block
        parts = []
        for b in range(k0 // bs, (k1 - 1) // bs + 1):
            arr = self._cache.get(b)
            if arr is None:
                if len(self._cache) >= self._CACHE_BLOCKS:
                    del self._cache[next(iter(self._cache))]
                arr = np.random.default_rng([*self._seed, b + (1 << 40)]).normal(
                    0.0, 1.0, (bs, self._width)
                )
                self._cache[b] = arr
            lo, hi = max(k0, b * bs) - b * bs, min(k1, (b + 1) * bs) - b * bs
            parts.append(arr[lo:hi])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _pink_kernel(rate: int, low_hz: float, rms: float) -> FloatArray:
    """A Hann-tapered FIR kernel with power response 1/max(f, low_hz), scaled so that
    unit white noise comes out with ``rms`` µV."""
    length = 4 * rate  # 0.25 Hz resolution
    freqs = np.fft.rfftfreq(length, 1.0 / rate)
    response = 1.0 / np.sqrt(np.maximum(freqs, low_hz))
    kernel = np.roll(np.fft.irfft(response, length), length // 2) * np.hanning(length)
    out: FloatArray = kernel * (rms / math.sqrt(float(np.sum(kernel**2))))
    return out


class EegGenerator:
    """Per-headset EEG: DC offset, an alpha rhythm and 1/f noise per channel.

    The 1/f noise is index-addressed white noise through a fixed FIR kernel whose power
    response is 1/f above 0.5 Hz (flat below), applied by FFT, so every sample is a pure
    function of its index: any range can be read at any time
    (a flooding subscription reads far ahead, pow re-reads the last two seconds) and the
    output never depends on the order of reads. Chunks of one second are cached.
    """

    _PINK_LOW_HZ = 0.5
    _PINK_RMS_UV = 7.0
    _WHITE_RMS_UV = 0.6
    _CACHE_CHUNKS = 32

    def __init__(
        self, sensors: Sequence[str], rate: int, seed: Sequence[int], signal: SignalSpec
    ) -> None:
        self.rate = rate
        self.n_ch = len(sensors)
        self.signal = signal
        rng = np.random.default_rng([*seed, 0])
        self.offsets = EEG_OFFSET_UV + rng.normal(0.0, 35.0, self.n_ch)
        occipital = np.array([1.7 if s[0] in "OP" else 1.0 for s in sensors])
        self._alpha_amp = rng.uniform(3.0, 7.0, self.n_ch) * occipital
        self._alpha_freq = rng.uniform(9.3, 10.7, self.n_ch)
        self._alpha_phase = rng.uniform(0.0, 2 * math.pi, self.n_ch)
        self._am_freq = rng.uniform(0.05, 0.2, self.n_ch)
        self._am_phase = rng.uniform(0.0, 2 * math.pi, self.n_ch)
        self._kernel = _pink_kernel(rate, self._PINK_LOW_HZ, self._PINK_RMS_UV)
        length = len(self._kernel)
        self._nfft = 1 << math.ceil(math.log2(rate + length - 1))
        self._kernel_fft = np.fft.rfft(self._kernel, self._nfft)
        self._white = IndexNoise([*seed, 1], 2 * self.n_ch, rate)
        self._chunks: dict[int, FloatArray] = {}

    def get(self, k0: int, k1: int) -> FloatArray:
        """Samples ``k0 .. k1-1`` (``k0 >= 0``) as an array ``(k1-k0, channels)`` in µV."""
        if k1 <= k0:
            return np.empty((0, self.n_ch))
        r = self.rate
        c0, c1 = k0 // r, (k1 - 1) // r
        if c0 == c1:
            return self._chunk(c0)[k0 - c0 * r : k1 - c0 * r]
        parts = []
        for c in range(c0, c1 + 1):
            base = c * r
            parts.append(self._chunk(c)[max(k0, base) - base : min(k1, base + r) - base])
        return np.concatenate(parts)

    def prefetch(self, k: int) -> bool:
        """Make sure the chunk holding sample ``k`` is ready; True if it had to be made.
        Called a little ahead of need, one chunk per tick, so that headsets connected at
        the same moment do not all pay for a new second of EEG in the same tick."""
        c = k // self.rate
        if c in self._chunks:
            return False
        self._chunk(c)
        return True

    def _chunk(self, c: int) -> FloatArray:
        arr = self._chunks.get(c)
        if arr is None:
            if len(self._chunks) >= self._CACHE_CHUNKS:
                del self._chunks[next(iter(self._chunks))]
            arr = self._make_chunk(c)
            self._chunks[c] = arr
        return arr

    def _make_chunk(self, c: int) -> FloatArray:
        n = self.rate
        k = np.arange(c * n, (c + 1) * n, dtype=np.float64)
        t = k / self.rate
        if self.signal.kind == "sine":
            wave = self.signal.amplitude * np.sin(2 * math.pi * self.signal.freq * t)
            sine: FloatArray = self.offsets[None, :] + wave[:, None]
            return sine
        length = len(self._kernel)
        noise = self._white.get(c * n - (length - 1), (c + 1) * n)
        white_in = noise[:, : self.n_ch]
        spec = np.fft.rfft(white_in, self._nfft, axis=0) * self._kernel_fft[:, None]
        pink = np.fft.irfft(spec, self._nfft, axis=0)[length - 1 : length - 1 + n]
        am = 1.0 + 0.5 * np.sin(2 * math.pi * self._am_freq[None, :] * t[:, None] + self._am_phase)
        alpha = (
            self._alpha_amp
            * am
            * np.sin(2 * math.pi * self._alpha_freq[None, :] * t[:, None] + self._alpha_phase)
        )
        white = self._WHITE_RMS_UV * noise[length - 1 :, self.n_ch :]
        out: FloatArray = self.offsets + alpha + pink + white
        return out


_BAND_CACHE: dict[tuple[int, float], tuple[FloatArray, float, list[npt.NDArray[np.bool_]]]] = {}


def band_powers(window: FloatArray, rate: float) -> FloatArray:
    """Absolute band power (µV²/Hz) per channel and band, shape ``(channels, 5)``.

    A Hann-windowed periodogram of the (de-meaned) window, averaged over each band's
    bins: what Cortex describes as "calculated based on the last 2 seconds of EEG data".
    """
    n = window.shape[0]
    if n < 16:
        return np.zeros((window.shape[1], len(BANDS)))
    key = (n, rate)
    if key not in _BAND_CACHE:
        w = np.hanning(n)
        freqs = np.fft.rfftfreq(n, 1.0 / rate)
        masks = [(freqs >= lo) & (freqs < hi) for _, lo, hi in BANDS]
        _BAND_CACHE[key] = (w, float(np.sum(w**2)), masks)
    w, w_power, masks = _BAND_CACHE[key]
    x = window - window.mean(axis=0)
    spectrum = np.fft.rfft(x * w[:, None], axis=0)
    psd = (np.abs(spectrum) ** 2) * (2.0 / (rate * w_power))
    return np.stack([psd[m].mean(axis=0) if m.any() else np.zeros(x.shape[1]) for m in masks], 1)


class MotionGenerator:
    """Head motion: a slowly wandering orientation, gravity and the earth's field."""

    def __init__(self, layout: str, rate: float, seed: Sequence[int]) -> None:
        self.layout = MOTION_LAYOUTS[layout]
        self.rate = rate
        rng = np.random.default_rng(list(seed))
        self._amp = np.radians(rng.uniform([10, 5, 3], [25, 12, 8]))  # yaw, pitch, roll
        self._freq = rng.uniform([0.02, 0.03, 0.05], [0.05, 0.07, 0.1])
        self._phase = rng.uniform(0, 2 * math.pi, 3)
        self._mag = np.array([-76.5, -19.6, 38.3])
        self._noise = IndexNoise([*seed, 2], 9, 64)
        self._blocks: dict[int, FloatArray] = {}

    _BLOCK = 64
    _CACHE_BLOCKS = 16

    def rows(self, k0: int, k1: int) -> FloatArray:
        """Values for samples ``k0 .. k1-1`` in ``layout`` order (no counter columns),
        computed (and cached) in blocks of 64 samples: numpy pays off on blocks, not on
        the one or two samples a tick needs."""
        bs = self._BLOCK
        parts = []
        for b in range(k0 // bs, (k1 - 1) // bs + 1):
            block = self._blocks.get(b)
            if block is None:
                if len(self._blocks) >= self._CACHE_BLOCKS:
                    del self._blocks[next(iter(self._blocks))]
                block = self._compute(b * bs, (b + 1) * bs)
                self._blocks[b] = block
            parts.append(block[max(k0, b * bs) - b * bs : min(k1, (b + 1) * bs) - b * bs])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _compute(self, k0: int, k1: int) -> FloatArray:
        k = np.arange(k0, k1, dtype=np.float64)
        t = k / self.rate
        arg = 2 * math.pi * self._freq[None, :] * t[:, None] + self._phase
        ang = self._amp * np.sin(arg)  # (n, 3): yaw, pitch, roll
        rate_dps = np.degrees(self._amp * 2 * math.pi * self._freq * np.cos(arg))
        yaw, pitch, roll = ang[:, 0], ang[:, 1], ang[:, 2]
        cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
        cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
        cr, sr = np.cos(roll / 2), np.sin(roll / 2)
        quat = np.stack(
            [
                cr * cp * cy + sr * sp * sy,
                sr * cp * cy - cr * sp * sy,
                cr * sp * cy + sr * cp * sy,
                cr * cp * sy - sr * sp * cy,
            ],
            axis=1,
        )
        # Gravity (1 g) seen from the head frame: pitch and roll tilt it.
        acc = np.stack(
            [-np.sin(pitch), np.sin(roll) * np.cos(pitch), np.cos(roll) * np.cos(pitch)], axis=1
        )
        mag = self._mag[None, :] + 4.0 * np.stack([np.sin(yaw), np.cos(yaw), np.sin(pitch)], 1)
        noise = self._noise.get(k0, k1)
        acc = acc + 0.004 * noise[:, 0:3]
        mag = mag + 0.3 * noise[:, 3:6]
        gyro = rate_dps + 0.2 * noise[:, 6:9]
        first = quat if self.layout[0] == "Q0" else gyro
        out: FloatArray = np.concatenate([first, acc, mag], axis=1)
        return out


# ---- low-rate detections: closed-form in t, hashed choices per segment -----------------

_SALT_MET, _SALT_MET_ON, _SALT_COM, _SALT_FAC, _SALT_CQ, _SALT_EQ, _SALT_BAT = range(101, 108)

# Mental-command actions the virtual user "thinks" (a trained profile's usual set) [U].
COM_ACTIONS = ("neutral", "push", "pull", "lift", "drop")
# (segment seconds, [(action, cumulative probability)...]) for each facial channel [U].
# Eye actions as frames carry them: seed 001's fac example says "lookD"; "horiEye" is
# the name of the detection in getDetectionInfo, not a value of eyeAct.
FAC_EYE = (
    0.5,
    (("blink", 0.08), ("winkL", 0.09), ("winkR", 0.10), ("lookL", 0.12), ("lookR", 0.14),
     ("lookU", 0.15), ("lookD", 0.16)),
)  # fmt: skip
EYE_ACTIONS = ("neutral", *(name for name, _ in FAC_EYE[1]))
FAC_UPPER = (2.0, (("surprise", 0.2), ("frown", 0.4)))
FAC_LOWER = (2.0, (("smile", 0.25), ("clench", 0.35), ("laugh", 0.4), ("smirkLeft", 0.45), ("smirkRight", 0.5)))  # fmt: skip
METRIC_WARMUP_S = 5.0  # metrics need some data before Cortex reports them [U]


def _pick(table: tuple[tuple[str, float], ...], u: float) -> str:
    for name, cum in table:
        if u < cum:
            return name
    return "neutral"


def _bump(t: float, seg: float) -> float:
    return math.sin(math.pi * ((t / seg) % 1.0))


def metric_row(cols: Sequence[str], t: float, seed: int, hidx: int) -> list[Any]:
    """One ``met`` sample in ``cols`` order: ``isActive`` flags, values in 0..1 or null."""
    row: list[Any] = []
    for col in cols:
        name, _, flag = col.partition(".")
        m = sum(ord(ch) for ch in name)
        active = t >= METRIC_WARMUP_S and hash01(seed, hidx, _SALT_MET_ON, m, int(t // 20)) >= 0.1
        if flag:
            row.append(active)
            continue
        has_flag = f"{name}.isActive" in cols
        if has_flag and not active:
            row.append(None)
            continue
        f1 = 0.01 + 0.04 * hash01(seed, hidx, _SALT_MET, m, 1)
        f2 = 0.1 + 0.2 * hash01(seed, hidx, _SALT_MET, m, 2)
        p1 = 2 * math.pi * hash01(seed, hidx, _SALT_MET, m, 3)
        p2 = 2 * math.pi * hash01(seed, hidx, _SALT_MET, m, 4)
        v = (
            0.5
            + 0.28 * math.sin(2 * math.pi * f1 * t + p1)
            + 0.08 * math.sin(2 * math.pi * f2 * t + p2)
        )
        row.append(round(min(1.0, max(0.0, v)), 6))
    return row


@dataclass(frozen=True, slots=True)
class Detection:
    """What the profile loaded on a headset lets the detections say: mental command
    only detects trained, active actions, each as eagerly as its sensitivity (1-10);
    with the "trained" facial signature only trained expressions are detected."""

    com_actions: tuple[str, ...] = ()
    com_sensitivity: tuple[int, ...] = ()
    fac_trained: frozenset[str] | None = None  # None: the universal signature


def com_row(t: float, seed: int, hidx: int, detection: Detection | None = None) -> list[Any]:
    """One ``com`` sample ``[act, pow]``: an action held for 2.5 s with a power bump.
    Without a profile the virtual user's usual set is used [U: real Cortex needs a
    trained profile]; with one, its active trained actions and their sensitivities."""
    seg = 2.5
    j = int(t // seg)
    u = hash01(seed, hidx, _SALT_COM, j)
    actions: tuple[str, ...] = COM_ACTIONS[1:]
    gain = 1.0
    if detection is not None:
        actions = detection.com_actions
        if not actions:
            return ["neutral", 0.0]
    if u < 0.5:
        return ["neutral", 0.0]
    i = min(len(actions) - 1, int((u - 0.5) * 2 * len(actions)))
    if detection is not None and i < len(detection.com_sensitivity):
        gain = 0.5 + detection.com_sensitivity[i] / 10.0
    peak = min(1.0, (0.3 + 0.7 * hash01(seed, hidx, _SALT_COM, j, 1)) * gain)
    return [actions[i], round(peak * _bump(t, seg), 6)]


def fac_row(t: float, seed: int, hidx: int, detection: Detection | None = None) -> list[Any]:
    """One ``fac`` sample ``[eyeAct, uAct, uPow, lAct, lPow]``."""
    out: list[Any] = []
    trained = detection.fac_trained if detection is not None else None
    for channel, (seg, table) in enumerate((FAC_EYE, FAC_UPPER, FAC_LOWER)):
        j = int(t // seg)
        action = _pick(table, hash01(seed, hidx, _SALT_FAC, channel, j))
        if channel and trained is not None and action not in trained:
            action = "neutral"
        out.append(action)
        if channel:
            peak = 0.2 + 0.8 * hash01(seed, hidx, _SALT_FAC, channel, j, 1)
            out.append(0.0 if action == "neutral" else round(peak * _bump(t, seg), 6))
    return out


def battery_percent(t: float, seed: int, hidx: int) -> int:
    start = 60 + int(40 * hash01(seed, hidx, _SALT_BAT))
    return max(5, start - int(t // 120))


def _quality(t: float, seed: int, hidx: int, salt: int, n: int) -> list[int]:
    j = int(t // 5)
    out = []
    for ch in range(n):
        u = hash01(seed, hidx, salt, ch, j)
        out.append(2 if u < 0.04 else 3 if u < 0.15 else 4)
    return out


def dev_row(t: float, seed: int, hidx: int, n_sensors: int) -> list[Any]:
    """``[Battery (0-4), Signal (0-1), [cq per sensor (0-4)..., OVERALL (0-100)], BatteryPercent]``."""
    pct = battery_percent(t, seed, hidx)
    cq = _quality(t, seed, hidx, _SALT_CQ, n_sensors)
    overall = round(100 * sum(cq) / (4 * n_sensors))
    return [min(4, pct // 20), 1.0, [*cq, overall], pct]


def eq_row(t: float, seed: int, hidx: int, n_sensors: int, sample_rate_quality: float) -> list[Any]:
    """``[batteryPercent, overall (0-100), sampleRateQuality (0-1), eq per sensor (0-4)...]`` [U scales]."""
    q = _quality(t, seed, hidx, _SALT_EQ, n_sensors)
    overall = round(100 * sum(q) / (4 * n_sensors))
    return [battery_percent(t, seed, hidx), overall, round(sample_rate_quality, 3), *q]
