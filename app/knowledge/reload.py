"""Serve a new index build without a restart: every process watches the pointer `coach ingest` swaps."""

from __future__ import annotations

import logging
import threading

from app.container import Container
from app.knowledge.index import current_build

log = logging.getLogger(__name__)


class IndexWatcher:
    """A thread that opens the build the pointer names whenever it is not the one served."""

    def __init__(self, container: Container, interval_s: float) -> None:
        self.container = container
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-watcher", daemon=True)

    def start(self) -> IndexWatcher:
        """Start watching (nothing happens with an interval of 0)."""
        if self.interval_s > 0:
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and wait for a reload in progress to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def check(self) -> bool:
        """Swap in the current build if it is not the one served; return whether it did."""
        build = current_build(self.container.settings.index_dir)
        served = self.container.index.build if self.container.index is not None else None
        if build is None or build.name == served:
            return False
        log.info("index build %s found (serving %s): loading it", build.name, served)
        self.container.reload_index()
        loaded = self.container.index is not None and self.container.index.build == build.name
        if loaded:
            log.info("now serving index build %s", build.name)
        return loaded

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
                self.container.close_retired()
            except Exception:  # a build removed under us, a full disk: keep serving, try again next time
                log.exception("index reload failed; still serving the previous build")
