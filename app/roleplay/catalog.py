"""The scenarios on disk, reloaded when a file changes: a scenario saved by any process is seen by every process."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from app.roleplay.scenarios import Scenario, ScenarioError, load_scenarios

log = logging.getLogger(__name__)
Signature = tuple[tuple[str, int, int, int], ...]


def folder_signature(folder: Path) -> Signature:
    """Return what identifies the folder's scenario files now: name, inode, modification time and size of each."""
    entries = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.endswith(".yaml"):
                    st = entry.stat()
                    entries.append((entry.name, st.st_ino, st.st_mtime_ns, st.st_size))
    except FileNotFoundError:
        return ()
    return tuple(sorted(entries))


class ScenarioCatalog:
    """Every scenario in a folder; `current()` stats the files (microseconds) and reloads only when one changed.

    The files are the shared state: the editor replaces a file atomically, so every process that serves reps
    sees a new or edited scenario at its next request, without a restart. A file that no longer loads (edited
    by hand into a broken state) is reported in the log and the scenarios loaded before stay in use.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._signature = folder_signature(folder)
        self._scenarios = load_scenarios(folder)
        self._broken: Signature | None = None

    def current(self) -> dict[str, Scenario]:
        """Return the scenarios as the files on disk say now."""
        signature = folder_signature(self.folder)
        if signature == self._signature or signature == self._broken:
            return self._scenarios
        with self._lock:
            if signature != self._signature:
                try:
                    self._scenarios = load_scenarios(self.folder)
                except ScenarioError as exc:
                    self._broken = signature
                    log.error("scenarios not reloaded, keeping the ones loaded before: %s", exc.message)
                    return self._scenarios
                self._signature = signature
                self._broken = None
        return self._scenarios
