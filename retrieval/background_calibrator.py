"""Keeps the bands calibrated on what the retriever holds, in the background."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from retrieval.bands import BandThresholds
from retrieval.calibration import (
    Calibration,
    calibrate,
    fingerprint,
    load_calibration,
    save_calibration,
)
from retrieval.retriever import Retriever

log = logging.getLogger(__name__)


class BackgroundCalibrator:
    """Keeps the retriever's bands calibrated on what it holds: recalibrates ``debounce_s``
    after the last change, in its own thread; a search is never held up by it."""

    def __init__(
        self,
        retriever: Retriever,
        directory: Path | None,
        fallback: BandThresholds,
        debounce_s: float = 5.0,
    ) -> None:
        self.retriever = retriever
        self.directory = directory
        self.fallback = fallback
        self.debounce_s = debounce_s
        self.current: Calibration | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._running = threading.Lock()

    def start(self) -> None:
        """Apply the stored calibration of this encoder at once (a stale one is better than
        none) and recalibrate it in the background; with none stored, calibrate first (this
        start waits once, every later change recalibrates in the background)."""
        stored = load_calibration(self.directory) if self.directory else None
        if stored is not None and stored.encoder == self.retriever.encoder.name:
            self._apply(stored)
            if stored.fingerprint != fingerprint(self.retriever):
                self.schedule(delay=0.0)
        else:
            self._run_quietly()
        self.retriever.on_change = self.schedule

    def schedule(self, delay: float | None = None) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(
                self.debounce_s if delay is None else delay, self._run_quietly
            )
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self.retriever.on_change = None

    def run(self) -> Calibration:
        """Calibrate now, in this thread, and apply the result."""
        with self._running:
            calibration = calibrate(self.retriever, self.fallback)
            self._apply(calibration)
            if self.directory is not None:
                save_calibration(calibration, self.directory)
            return calibration

    def _run_quietly(self) -> None:
        try:
            calibration = self.run()
            log.info("bands calibrated: %s", calibration.reason)
        except Exception:  # the previous bands stay in force
            log.exception("calibration failed; the previous bands stay in force")

    def _apply(self, calibration: Calibration) -> None:
        self.current = calibration
        self.retriever.thresholds = calibration.bands
