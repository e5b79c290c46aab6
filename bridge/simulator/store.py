"""What Cortex keeps on disk for a user: profiles, records, subjects, settings.

Cortex stores profiles and records per EmotivID and they outlive the service ("A profile
is a persistent object", D:bci; "Unlike a session, a record is a permanent object. It is
stored on the hard drive", D:records). :class:`UserStore` is that storage: with a state
directory it is a JSON file per user plus one ``.npz`` of samples per record, rewritten
atomically on every change; without one it lives in memory, which is what unit tests
with a fake clock use.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Arrays = dict[str, npt.NDArray[Any]]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class UserStore:
    """One EmotivID's persistent objects. ``data`` is the JSON document; callers change
    it and call :meth:`save`."""

    def __init__(self, root: Path | None, username: str) -> None:
        self.dir = root / _SAFE.sub("_", username) if root is not None else None
        self._samples: dict[str, Arrays] = {}
        self.data: dict[str, Any] = {
            "profiles": {},
            "records": {},
            "subjects": {},
            "optOut": False,
            "flexMappings": {},
        }
        if self.dir is not None and (self.dir / "state.json").exists():
            loaded = json.loads((self.dir / "state.json").read_text(encoding="utf-8"))
            self.data.update(loaded)

    @property
    def profiles(self) -> dict[str, Any]:
        return self.data["profiles"]  # type: ignore[no-any-return]

    @property
    def records(self) -> dict[str, Any]:
        return self.data["records"]  # type: ignore[no-any-return]

    @property
    def subjects(self) -> dict[str, Any]:
        return self.data["subjects"]  # type: ignore[no-any-return]

    @property
    def flex_mappings(self) -> dict[str, Any]:
        return self.data["flexMappings"]  # type: ignore[no-any-return]

    def save(self) -> None:
        if self.dir is None:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.dir / "state.json")

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    # ---- record samples --------------------------------------------------------------

    def put_samples(self, record_id: str, arrays: Arrays) -> None:
        if self.dir is None:
            self._samples[record_id] = arrays
            return
        folder = self.dir / "records"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{record_id}.npz", "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]

    def get_samples(self, record_id: str) -> Arrays | None:
        if self.dir is None:
            return self._samples.get(record_id)
        path = self.dir / "records" / f"{record_id}.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}

    def delete_samples(self, record_id: str) -> None:
        self._samples.pop(record_id, None)
        if self.dir is not None:
            (self.dir / "records" / f"{record_id}.npz").unlink(missing_ok=True)
