"""Prometheus metrics of one hlsd instance, in a registry of its own (so tests can run
several instances in one process). Counters and histograms are thread-safe; gauges read
live values when scraped."""
from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

STOP_CAUSES = ("client", "idle", "crash", "shutdown", "expired")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0)


class Metrics:
    def __init__(self, sessions: Callable[[], int], transcoders: Callable[[], int],
                 ffmpeg_processes: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        Gauge("hlsd_sessions", "Sessions alive (playing or resumable)", registry=r).set_function(sessions)
        Gauge("hlsd_transcoders", "Transcoder runs alive", registry=r).set_function(transcoders)
        Gauge("hlsd_ffmpeg_processes", "FFmpeg processes running", registry=r).set_function(ffmpeg_processes)
        self.sessions_created = Counter("hlsd_sessions_created", "Sessions created", registry=r)
        self.sessions_resumed = Counter("hlsd_sessions_resumed",
                                        "Sessions re-created from their token", registry=r)
        self.restarts = Counter("hlsd_transcoder_restarts", "Transcoders restarted after a crash", registry=r)
        self.seeks = Counter("hlsd_seeks", "New transcoder runs started for a seek", registry=r)
        self.stops = Counter("hlsd_session_stops", "Sessions (or their FFmpeg) stopped, by cause",
                             ["cause"], registry=r)
        for cause in STOP_CAUSES:
            self.stops.labels(cause)
        self.stop_latency = Histogram("hlsd_ffmpeg_stop_latency_seconds",
                                      "From asking FFmpeg to stop to it being reaped",
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.first_segment = Histogram("hlsd_time_to_first_segment_seconds",
                                       "From FFmpeg spawned to its first segment complete",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.reaped = Counter("hlsd_reaped_orphans", "Orphaned FFmpeg processes killed by the reaper",
                              registry=r)
        self.segments = Counter("hlsd_segment_requests", "Segment requests by outcome",
                                ["outcome"], registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
