"""What ``kaddons serve``'s event loop may do with the cluster document: look at its files' times and sizes, never
read them (``ClusterService.loaded_now``). A change made outside the server is read by a worker thread; until
then the event loop's fast path answers ``None`` and the request goes to a route that reads it off the loop."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kaddons.api import service as service_module
from kaddons.api.service import ClusterService
from kaddons.stacks.load import LoadedCluster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gitops"


def test_the_event_loop_never_reads_a_changed_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "gitops"
    shutil.copytree(EXAMPLE, repo)
    (repo / ".git").mkdir()
    service = ClusterService(repo / "clusters" / "edge" / "cluster.yaml")
    assert service.loaded_now() is None  # never read yet: the event loop does not read it either
    first = service.loaded()
    assert service.loaded_now() is first
    assert service.current_addon_page(1, 50) is None  # not built yet: built in a thread

    monkeypatch.setattr(service_module, "RECHECK", 0.0)  # every call looks at the files' times and sizes
    service.addon_page(1, 50)
    assert service.loaded_now() is first and service.current_addon_page(1, 50) is not None

    values = repo / "clusters" / "edge" / "values" / "headlamp.yaml"
    values.write_text(values.read_text() + "podAnnotations: {changed: 'yes'}\n")

    def no_reading(*_args: object, **_kwargs: object) -> LoadedCluster:
        raise AssertionError("the event loop's path read the document")

    reading = service_module.load_cluster
    monkeypatch.setattr(service_module, "load_cluster", no_reading)
    assert service.loaded_now() is None
    assert service.current_addon_page(1, 50) is None
    monkeypatch.setattr(service_module, "load_cluster", reading)

    second = service.loaded()  # what a worker thread does
    assert second is not first and "changed: 'yes'" in second.document.spec.stacks[0].addons[0].values
    assert service.loaded_now() is second
