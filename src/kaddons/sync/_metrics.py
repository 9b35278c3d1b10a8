"""Prometheus metrics of the sync agent (``prometheus-client``), on a registry of their own."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["Metrics"]


class Metrics:
    """``kaddons_syncs_total{addon,result}`` (result: synced, skipped, failed),
    ``kaddons_last_success_timestamp_seconds{addon}`` (Unix time of the last sync that did not fail),
    ``kaddons_registry_requests_total{host}`` (HTTP requests sent, retries included) and
    ``kaddons_notifications_total`` (addon syncs triggered by registry push notifications)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.syncs = Counter("kaddons_syncs", "Addon syncs by result.", ["addon", "result"], registry=self.registry)
        self.last_success = Gauge("kaddons_last_success_timestamp_seconds",
                                  "Unix time of the last addon sync that did not fail.", ["addon"],
                                  registry=self.registry)
        self.requests = Counter("kaddons_registry_requests", "HTTP requests sent to registries.", ["host"],
                                registry=self.registry)
        self.notifications = Counter("kaddons_notifications", "Addon syncs triggered by push notifications.",
                                     registry=self.registry)

    def record(self, addon: str, result: str) -> None:
        """Count one sync of ``addon`` with ``result``."""
        self.syncs.labels(addon=addon, result=result).inc()
        if result != "failed":
            self.last_success.labels(addon=addon).set(time.time())

    def on_request(self, method: str, host: str) -> None:
        """``RegistryOptions.on_request`` hook: count a request to ``host``."""
        self.requests.labels(host=host).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
