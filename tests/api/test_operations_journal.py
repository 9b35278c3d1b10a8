"""Operations outlive a restart of ``kaddons serve`` (:mod:`kaddons.api.operations`): the journal file, read by a
new :class:`Operations` as the next server start does. No server is needed: the queue is the library's."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from kaddons.api import operations as ops
from kaddons.api.operations import NOT_RECORDED, Operations, journal_of, recorded
from kaddons.errors import UsageError


def _done(queue: Operations, operation_id: str) -> dict[str, Any]:
    finished = queue.wait(operation_id, 30).to_dict()
    assert finished["status"] not in ("pending", "running"), finished
    return finished


def test_a_restart_keeps_finished_operations_and_closes_the_interrupted_ones(tmp_path: Path) -> None:
    journal = tmp_path / "git" / "kaddons" / "operations.jsonl"
    first = Operations(journal=journal)
    preview = first.submit("upgrade", "addon/a", {"dry_run": True},
                           lambda: {"commit": None, "dry_run": True, "diff": "-a\n+b\n"})
    failed = first.submit("upgrade", "addon/a", {}, lambda: (_ for _ in ()).throw(UsageError("no version 9.9.9")))
    release = threading.Event()
    started = threading.Event()

    def slow() -> dict[str, Any]:
        started.set()
        release.wait(30)
        return {"commit": "f" * 40}

    assert _done(first, preview.id)["result"]["diff"] == "-a\n+b\n"  # in this server's memory: the whole preview
    assert _done(first, failed.id)["error"] == "no version 9.9.9"
    running = first.submit("rollback", "addon/a", {}, slow)
    assert started.wait(30)
    pending = first.submit("sync", "addon/a", {}, lambda: {"object": "x"})

    # the server stops here (its worker is still in ``slow``): the next start reads the journal
    second = Operations(journal=journal)
    kept = {o.id: o.to_dict() for o in second.all()}
    assert list(kept) == [pending.id, running.id, failed.id, preview.id]  # newest first, as before
    assert kept[preview.id]["status"] == "success" and "diff" not in kept[preview.id]["result"]
    assert kept[failed.id]["status"] == "failed" and kept[failed.id]["error"] == "no version 9.9.9"
    assert kept[running.id]["status"] == "failed" and "stopped while it ran" in kept[running.id]["error"]
    assert kept[pending.id]["status"] == "cancelled" and "stopped before it ran" in kept[pending.id]["error"]
    assert all(o["finished"] is not None for o in kept.values())
    after = second.submit("sync", "addon/a", {}, lambda: {"object": "x"})
    assert int(after.id.removeprefix("op-")) == int(pending.id.removeprefix("op-")) + 1  # an id is never reused
    assert _done(second, after.id)["status"] == "success"
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    second.close()
    third = Operations(journal=journal)
    assert [o.id for o in third.all()][:2] == [after.id, pending.id]
    third.close()
    first.cancel(pending.id)  # the first server's worker, not stopped in a test process, ends here
    release.set()
    first.close()


def test_a_line_cut_short_by_a_crash_loses_that_line_only(tmp_path: Path) -> None:
    journal = tmp_path / "operations.jsonl"
    queue = Operations(journal=journal)
    done = queue.submit("sync", "addon/a", {}, lambda: {"object": "x"})
    _done(queue, done.id)
    queue.close()
    with journal.open("a") as out:
        out.write('{"id": "op-000009", "kind": "sync", "tar')  # killed mid-write
    again = Operations(journal=journal)
    assert [o.id for o in again.all()] == [done.id]
    assert again.submit("sync", "addon/a", {}, lambda: {}).id == "op-000002"
    again.close()


def test_the_journal_is_written_anew_when_it_grows_past_twice_what_is_kept(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops, "KEEP", 5)
    journal = tmp_path / "operations.jsonl"
    queue = Operations(journal=journal)
    for _ in range(20):  # each writes 3 lines: pending, running, success
        _done(queue, queue.submit("sync", "addon/a", {}, lambda: {}).id)
    queue.close()
    lines = journal.read_text().splitlines()
    assert len(lines) <= 2 * 5 + 1
    assert json.loads(lines[-1])["id"] == "op-000020"
    assert [o.id for o in Operations(journal=journal).all()] == [f"op-{n:06d}" for n in range(20, 15, -1)]


def test_values_a_request_carries_are_not_recorded() -> None:
    upgrade = recorded({"chart_version": None, "values": [{"path": "oidc.clientSecret", "value": "hunter2"}]})
    assert upgrade == {"chart_version": None, "values": [{"path": "oidc.clientSecret", "value": NOT_RECORDED}]}
    install = recorded({"chart": "podinfo", "values": "password: hunter2\n"})
    assert install == {"chart": "podinfo", "values": f"{NOT_RECORDED} (18 bytes)"}
    assert recorded({"dry_run": True}) == {"dry_run": True}


def test_the_journal_lives_in_the_git_folder_of_the_working_copy(tmp_path: Path) -> None:
    import pygit2

    pygit2.init_repository(str(tmp_path / "repo"))
    (tmp_path / "repo" / "clusters").mkdir()
    assert journal_of(tmp_path / "repo" / "clusters") == tmp_path / "repo" / ".git" / "kaddons" / "operations.jsonl"
    assert journal_of(tmp_path) is None or not str(journal_of(tmp_path)).startswith(str(tmp_path))


def test_operations_submitted_at_once_keep_one_order_in_the_list_the_journal_and_the_queue(tmp_path: Path) -> None:
    journal = tmp_path / "operations.jsonl"
    ran: list[str] = []
    gate = threading.Event()
    queue = Operations(journal=journal)
    blocker = queue.submit("sync", "addon/a", {}, lambda: {"waited": gate.wait(30)})

    def submit() -> None:
        for _ in range(25):
            holder: list[str] = []
            operation = queue.submit("sync", "addon/a", {}, lambda holder=holder: ran.append(holder[0]) or {})
            holder.append(operation.id)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gate.set()
    last = max(o.id for o in queue.all())
    _done(queue, last)
    listed = [o.id for o in reversed(queue.all())]
    assert listed == sorted(listed) and len(listed) == 101
    assert ran == listed[1:]  # run in the order of their ids
    firsts = list(dict.fromkeys(json.loads(line)["id"] for line in journal.read_text().splitlines()))
    assert firsts == listed and blocker.id == listed[0]
    queue.close()
