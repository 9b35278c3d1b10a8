"""Polling benchmark: the cost of an unchanged ``kaddons sync --check-digest`` pass, and push-to-catalog latency.

In one run, against a fresh local registry (Debian ``docker-registry``) on 127.0.0.1:

1. ``--repos`` N (default 1000) small addons ``bench-NNNN`` are exported once (one ``.oci.tar``) and
   pushed to ``addons/bench-NNNN:v1.0.0`` with kaddons' OCI client (blobs shared between addons are
   mounted across repositories), then synced into an empty catalog (``kaddons sync``, timed apart).
2. (a) the unchanged pass: ``kaddons sync --check-digest`` over all N, run as a user runs it (a
   subprocess, best of ``--rounds`` wall times), with the default tag policy (list tags, then one HEAD
   per addon; goal <= 2 requests per addon) and with ``--tag-policy tag:v1.0.0`` (one HEAD; goal 1).
   (b) the reference pattern: per repository ``skopeo list-tags`` then ``skopeo inspect --raw`` of the
   chosen tag, sequentially, as K2s spawns ``oras`` twice per addon (``--baseline-sample`` M repositories
   timed, extrapolated to N when M < N and said so). Ratio (b) / (a); goal >= 50x. kaddons checks
   ``--concurrency`` addons at once (default: ``kaddons sync``'s, 4), printed with the results. The CPU time of
   the client processes and of the registry (``/proc``) is printed per addon next to each wall time:
   on a small machine the registry's own CPU per request bounds what any client can reach.
   Requests are counted by the registry itself, the same way for both: the registry is restarted on
   the same storage with its access log on, and each command is run once more (untimed) against it;
   every access-log line is one HTTP request received. A request that names ``addons/<name>`` counts
   for that addon; discovery (``_catalog`` pages) and the ``/v2/`` ping are per-run overhead, shown
   apart. skopeo's HTTPS probe before it falls back to plain HTTP is a failed TLS handshake, not an
   HTTP request: it is not counted. skopeo's requests are counted on a sample of 20 repositories.
3. Push-to-catalog latency: the registry is restarted on the same storage with ``notifications`` to a
   running ``kaddons agent`` (interval 1h, so only a notification can sync in time; it also checks the N
   addons in the background as it would in production); a new version ``v1.0.K`` of one addon is
   pushed (``push_archive``, as ``kaddons push``) and the time from the push's return to the catalog's
   recorded digest naming it (the digest file polled every 5 ms) is measured ``--latency-rounds`` times.
   Goal: median and max under 1 s on loopback.

Prints a table; exits non-zero only on errors, never on a missed goal ("goal met" / "MISSED").

Run: ``make bench`` (or ``.venv/bin/python benchmarks/poll.py [--repos 1000] [--rounds 3] [--baseline-sample M]
[--concurrency N]``).
"""

from __future__ import annotations

import os
import sys

# benchmarks/copy.py would shadow the standard library's ``copy`` module: drop this folder from the path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import contextlib
import io
import json
import re
import resource
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kaddons.addons.artifact import AddonEntry, addon_entries  # noqa: E402
from kaddons.addons.catalog import digest_path  # noqa: E402
from kaddons.addons.export import ExportOptions, export_addons  # noqa: E402
from kaddons.addons.publish import addon_repository, push_archive  # noqa: E402
from kaddons.oci.archive import ArchiveStore  # noqa: E402
from kaddons.oci.registry import Registry, RegistryOptions  # noqa: E402
from kaddons.oci.store import fetch_bytes  # noqa: E402
from kaddons.sync.config import DEFAULT_CONCURRENCY, MAX_CONCURRENCY  # noqa: E402
from tests.helpers.registry import RunningRegistry, free_port, run_registry  # noqa: E402

TAG = "v1.0.0"
OMIT = ExportOptions(omit_images=True, omit_packages=True, k2s_version="1.0.0")
PLAIN = RegistryOptions(insecure=True)
PUSH_WORKERS = 8
REQUEST_GOAL, FIXED_TAG_GOAL, RATIO_GOAL, LATENCY_GOAL = 2.0, 1.0, 50.0, 1.0
_SUMMARY = re.compile(r"Synced: (\d+), Skipped \(unchanged\): (\d+), Failed: (\d+)")
_ADDON_PATH = re.compile(r"^/v2/addons/([^/?]+)/")
_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3}) ')

_MANIFEST = """apiVersion: v1
kind: AddonManifest
metadata:
  name: {name}
  description: Benchmark addon {name}
spec:
  implementations:
    - name: {name}
      description: Benchmark addon {name}
      version: {version}
      commands:
        enable:
          script:
            subPath: Enable.ps1
        disable:
          script:
            subPath: Disable.ps1
"""


def bench_names(count: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(count)]


def write_addon(addons: Path, name: str, version: str = "1.0.0", revision: int = 0) -> None:
    """A minimal valid addon ``name`` (manifest, two scripts, one Kubernetes manifest) under ``addons``."""
    folder = addons / name
    (folder / "manifests").mkdir(parents=True, exist_ok=True)
    (folder / "addon.manifest.yaml").write_text(_MANIFEST.format(name=name, version=version))
    (folder / "Enable.ps1").write_text("Write-Output 'enable'\n")
    (folder / "Disable.ps1").write_text("Write-Output 'disable'\n")
    (folder / "manifests" / "configmap.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  revision: '{revision}'\n")


def push_all(archive: Path, host: str) -> int:
    """Push every addon of ``archive`` to ``addons/<name>:<tag>`` on ``host``, ``PUSH_WORKERS`` at once.

    A blob already pushed to another repository is mounted from there (one request) instead of
    uploaded. Returns the number of addons pushed; raises what the OCI client raises.
    """
    home: dict[str, str] = {}
    lock = threading.Lock()
    with ArchiveStore(archive) as store, Registry(host, PLAIN) as client:
        entries = addon_entries(store, store.index().manifests, where=str(archive))

        def push(entry: AddonEntry) -> None:
            repository = addon_repository("", entry.export_name)
            repo = client.repository(repository)
            for desc in (entry.manifest.config, *entry.manifest.layers):
                with lock:
                    source = home.get(desc.digest)
                if source is not None and repo.mount(desc, source):
                    continue
                with store.fetch(desc) as stream:
                    repo.push(desc, stream)  # type: ignore[arg-type]
                with lock:
                    home.setdefault(desc.digest, repository)
            repo.push(entry.descriptor, io.BytesIO(fetch_bytes(store, entry.descriptor)))
            assert entry.tag is not None
            repo.tag(entry.descriptor, entry.tag)

        push(entries[0])  # first, so that the blobs every addon shares are there to mount
        with ThreadPoolExecutor(max_workers=PUSH_WORKERS) as pool:
            for _ in pool.map(push, entries[1:]):
                pass
    return len(entries)


STARTUP_GOAL = 0.150
"""Seconds a no-op sync of one addon may take from process start to exit (issue 10 item 28)."""


#: What every ``kaddons sync`` process pays before kaddons' own code runs: Python itself, the HTTP client
#: (without its command line, which kaddons blocks) and the CLI library (typer, which imports pydantic).
STARTUP_FLOOR = {
    "python -c pass": "pass",
    "+ import httpx": "import sys; sys.modules['httpx._main'] = None; import httpx",
    "+ import typer, pydantic": "import sys; sys.modules['httpx._main'] = None; import httpx, typer, pydantic",
}


def startup_floor(rounds: int = 7) -> dict[str, float]:
    """Median wall seconds of each :data:`STARTUP_FLOOR` program, as a new process."""
    return {label: statistics.median(_wall([sys.executable, "-c", code]) for _ in range(rounds))
            for label, code in STARTUP_FLOOR.items()}


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def startup_times(host: str, catalog: Path, name: str, rounds: int = 7) -> tuple[list[float], list[float]]:
    """Wall seconds of ``kaddons sync --check-digest --addon NAME`` (unchanged: one HEAD) and of its peer,
    ``skopeo inspect --raw`` of the same tag, each run ``rounds`` times as a new process. kaddons' bytecode is
    compiled first, as ``pip install`` does (a source tree run with ``PYTHONDONTWRITEBYTECODE`` compiles every
    module on every start)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(__file__).parents[1] / "src" / "kaddons")],
                   check=True, capture_output=True)
    ours, peer = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(kaddons("sync", "--registry", f"oci://{host}", "--insecure", "--addons-dir", str(catalog),
                               "--check-digest", "--addon", name), check=True, capture_output=True)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{host}/addons/{name}:{TAG}"],
                       check=True, capture_output=True)
        peer.append(time.perf_counter() - start)
    return ours, peer


def kaddons(*args: str) -> list[str]:
    return [sys.executable, "-m", "kaddons", *args]


def sync_command(host: str, catalog: Path, *extra: str, concurrency: int = DEFAULT_CONCURRENCY) -> list[str]:
    return kaddons("sync", "--registry", f"oci://{host}", "--insecure", "--addons-dir", str(catalog),
                   "--concurrency", str(concurrency), *extra)


def run_sync(command: list[str], expect_skipped: int | None, log: Path) -> None:
    """Run a ``kaddons sync`` command, output to ``log``. Exits when it fails or skips other than expected."""
    with log.open("wb") as out:
        proc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    text = log.read_text(errors="replace")
    found = _SUMMARY.findall(text)
    if proc.returncode != 0 or not found:
        tail = "\n".join(text.splitlines()[-5:])
        raise SystemExit(f"{' '.join(command[2:5])} ... failed ({proc.returncode}):\n{tail}")
    synced, skipped, failed = map(int, found[-1])
    if expect_skipped is not None and (skipped != expect_skipped or synced or failed):
        raise SystemExit(f"the unchanged pass was not unchanged: Synced {synced}, Skipped {skipped}, Failed {failed}")


@dataclass(frozen=True)
class Timing:
    """One timed run: ``wall`` seconds, CPU seconds of the processes it ran (``client_cpu``) and of the
    registry meanwhile (``registry_cpu``, ``None`` without ``/proc``)."""

    wall: float
    client_cpu: float
    registry_cpu: float | None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``), or ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def timed(registry: RunningRegistry, run: Callable[[], object]) -> Timing:
    """Run ``run()`` (which runs and waits for subprocesses) and measure it."""
    registry_before, cpu_before = process_cpu(registry.pid), _children_cpu()
    start = time.perf_counter()
    run()
    wall = time.perf_counter() - start
    registry_after = process_cpu(registry.pid)
    registry_cpu = None if registry_before is None or registry_after is None else registry_after - registry_before
    return Timing(wall, _children_cpu() - cpu_before, registry_cpu)


def choose_tag(listing: str) -> str:
    """The tag a K2s-like caller picks from ``skopeo list-tags`` output: ``latest``, else the highest."""
    tags = json.loads(listing).get("Tags") or []
    if not tags:
        raise SystemExit(f"skopeo list-tags returned no tags: {listing.strip()}")
    return "latest" if "latest" in tags else max(tags)


def skopeo_poll(host: str, names: list[str]) -> None:
    """K2s's pattern, per repository: ``list-tags``, then ``inspect --raw`` of the chosen tag."""
    for name in names:
        ref = f"docker://{host}/{addon_repository('', name)}"
        listing = subprocess.run(["skopeo", "list-tags", "--tls-verify=false", ref],
                                 capture_output=True, text=True)
        if listing.returncode != 0:
            raise SystemExit(f"skopeo list-tags {ref} failed: {listing.stderr.strip()}")
        tagged = f"{ref}:{choose_tag(listing.stdout)}"
        raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", tagged],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if raw.returncode != 0:
            raise SystemExit(f"skopeo inspect --raw {ref} failed: {raw.stderr.strip()}")


@dataclass(frozen=True)
class Requests:
    """Requests the registry received: per addon (those naming ``addons/<name>``) and per run (the rest)."""

    addons: int
    per_addon: int
    overhead: int
    kinds: str

    @property
    def per_addon_mean(self) -> float:
        return self.per_addon / self.addons

    @property
    def total_mean(self) -> float:
        return (self.per_addon + self.overhead) / self.addons


def _kind(method: str, path: str) -> str:
    bare = path.split("?", 1)[0]
    if bare.rstrip("/") == "/v2":
        return f"{method} /v2/"
    if bare.startswith("/v2/_catalog"):
        return f"{method} _catalog"
    for part in ("tags/list", "manifests", "blobs"):
        if f"/{part}" in bare:
            return f"{method} {part}"
    return f"{method} other"


def _access_lines(registry: RunningRegistry) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in map(_ACCESS.search, registry.log.splitlines()) if m]


def count_requests(registry: RunningRegistry, addons: int, run: Callable[[], object]) -> Requests:
    """Run ``run()`` against ``registry`` (started with its access log on) and classify the requests it received."""
    before = len(_access_lines(registry))
    run()
    seen: list[tuple[str, str]] = []
    for _ in range(100):  # the access line is written just after the answer: wait until the log is still
        time.sleep(0.05)
        now = _access_lines(registry)[before:]
        if len(now) == len(seen):
            break
        seen = now
    per_addon = sum(1 for _, path in seen if _ADDON_PATH.match(path))
    kinds = Counter(_kind(method, path) for method, path in seen)
    text = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items(), key=lambda item: -item[1]))
    return Requests(addons, per_addon, len(seen) - per_addon, text)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _stop(agent: subprocess.Popen[bytes]) -> int:
    agent.send_signal(signal.SIGTERM)
    try:
        return agent.wait(timeout=30)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()
        raise SystemExit("kaddons agent did not stop within 30 s of SIGTERM") from None


EVENTS_TOKEN = "benchmark-token"
"""The shared token the registry's notifications carry to the agent (Authorization: Bearer ...)."""


@contextlib.contextmanager
def running_agent(host: str, catalog: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``kaddons agent`` (interval 1h) listening on 127.0.0.1:``port``; SIGTERM on exit, exit 0 checked."""
    with log.open("wb") as out:
        agent = subprocess.Popen(
            kaddons("agent", "--registry", f"oci://{host}", "--insecure", "--addons-dir", str(catalog),
                    "--interval", "1h", "--listen", f"127.0.0.1:{port}"),
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "KADDONS_EVENTS_TOKEN": EVENTS_TOKEN})
    try:
        deadline = time.monotonic() + 30
        while not _healthy(f"http://127.0.0.1:{port}/healthz"):
            if agent.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"kaddons agent did not come up:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.05)
        yield agent
    except BaseException:
        _stop(agent)
        raise
    code = _stop(agent)
    if code != 0:
        raise SystemExit(f"kaddons agent exited with {code}:\n{log.read_text(errors='replace')[-2000:]}")


def wait_for_digest(record: Path, digest: str, timeout: float = 30.0) -> float:
    """Poll ``record`` every 5 ms until it holds ``digest``; the seconds that took."""
    start = time.perf_counter()
    while True:
        with contextlib.suppress(OSError):
            if record.read_text().strip() == digest:
                return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"the pushed digest {digest} did not reach the catalog within {timeout:.0f} s")
        time.sleep(0.005)


def measure_latency(work: Path, registry_dir: Path, catalog: Path, name: str,
                    rounds: int) -> tuple[list[float], list[str]]:
    """Push ``rounds`` new versions of ``name`` with a notifying registry and a running agent.

    Returns the latencies (seconds) and the agent's error lines about ``name`` (failed syncs, retried later).
    """
    archives = []
    for k in range(1, rounds + 1):  # exported before anything is timed
        source, out = work / f"latency-{k}" / "addons", work / f"latency-{k}" / "out"
        write_addon(source, name, version=f"1.0.{k}", revision=k)
        out.mkdir()
        archives.append(export_addons(source, [name], out, OMIT).path)
    port = free_port()
    config = (f"notifications:\n  endpoints:\n    - name: kaddons\n      url: http://127.0.0.1:{port}/events\n"
              f"      headers:\n        Authorization: [Bearer {EVENTS_TOKEN}]\n"
              "      timeout: 1s\n      threshold: 3\n      backoff: 1s\n")
    record, log = digest_path(catalog, name), work / "agent.log"
    latencies = []
    with run_registry(extra_config=config, workdir=registry_dir) as registry, \
            running_agent(registry.host, catalog, port, log):
        for archive in archives:
            pushed = push_archive(archive, registry.host, PLAIN)
            latencies.append(wait_for_digest(record, pushed[0].digest))
            time.sleep(0.2)
    errors = [line for line in log.read_text(errors="replace").splitlines()
              if "[ERROR]" in line and name in line and "Failed to sync" in line]
    return latencies, errors


def verdict(met: bool) -> str:
    return "goal met" if met else "MISSED"


def _ms(seconds: float | None, per: int) -> str:
    return "n/a" if seconds is None else f"{seconds / per * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=1000, help="addon repositories to push (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed kaddons passes per policy; the best counts")
    parser.add_argument("--baseline-sample", type=int, default=None, metavar="M",
                        help="time the skopeo pattern on M repositories and extrapolate to all (default: all)")
    parser.add_argument("--latency-rounds", type=int, default=5, help="pushes timed for the latency (default 5)")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                        help=f"kaddons sync --concurrency: addons checked at once (default {DEFAULT_CONCURRENCY})")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, catalog) and print it")
    args = parser.parse_args()
    if args.repos < 1 or args.rounds < 1 or args.latency_rounds < 1:
        raise SystemExit("--repos, --rounds and --latency-rounds must be at least 1")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise SystemExit(f"--concurrency must be from 1 to {MAX_CONCURRENCY}")
    concurrency = args.concurrency
    if shutil.which("skopeo") is None:
        raise SystemExit("skopeo is not installed: apt-get install -y skopeo (make bench installs it)")
    n = args.repos
    sample = n if args.baseline_sample is None else max(1, min(args.baseline_sample, n))
    names = bench_names(n)
    sampled = names[:: max(1, n // sample)][:sample]
    counted = min(sample, 20)
    policies = {"k2s (default)": (), f"tag:{TAG}": ("--tag-policy", f"tag:{TAG}")}
    work = Path(tempfile.mkdtemp(prefix="kaddons-bench-poll-", dir=os.environ.get("TMPDIR")))
    work.chmod(0o755)  # the registry runs as nobody when started as root
    try:
        source, out, catalog, registry_dir = work / "addons", work / "out", work / "catalog", work / "registry"
        for folder in (out, catalog, registry_dir):
            folder.mkdir()
        for name in names:
            write_addon(source, name)
        start = time.perf_counter()
        archive = export_addons(source, [], out, OMIT).path
        print(f"Exported {n} addons in {time.perf_counter() - start:.1f} s", flush=True)

        best: dict[str, Timing] = {}
        with run_registry(workdir=registry_dir) as registry:
            host = registry.host
            start = time.perf_counter()
            push_all(archive, host)
            print(f"Pushed addons/bench-NNNN:{TAG} x {n} to {host} in {time.perf_counter() - start:.1f} s", flush=True)
            initial = timed(registry, lambda: run_sync(sync_command(host, catalog, "--check-digest",
                                                                    concurrency=concurrency),
                                                       None, work / "sync-initial.log"))
            print(f"Initial kaddons sync of {n} addons: {initial.wall:.1f} s", flush=True)
            for round_ in range(args.rounds):
                for label, extra in policies.items():
                    timing = timed(registry, lambda extra=extra: run_sync(
                        sync_command(host, catalog, "--check-digest", *extra, concurrency=concurrency), n,
                        work / "sync-pass.log"))
                    if label not in best or timing.wall < best[label].wall:
                        best[label] = timing
                    print(f"  round {round_ + 1}: kaddons sync --check-digest --concurrency {concurrency}, "
                          f"policy {label}: {timing.wall:.2f} s", flush=True)
            print(f"skopeo list-tags + inspect --raw over {sample} repositories ...", flush=True)
            baseline = timed(registry, lambda: skopeo_poll(host, sampled))
            startup = startup_times(host, catalog, names[0])
            floor_times = startup_floor()

        print("Counting requests (registry restarted on the same storage with its access log on) ...", flush=True)
        with run_registry(workdir=registry_dir, log_level="info") as registry:
            requests = {label: count_requests(registry, n, lambda extra=extra: run_sync(
                sync_command(registry.host, catalog, "--check-digest", *extra, concurrency=concurrency), n,
                work / "sync-count.log"))
                for label, extra in policies.items()}
            skopeo_requests = count_requests(registry, counted, lambda: skopeo_poll(registry.host, sampled[:counted]))

        print(f"Push-to-catalog latency: {args.latency_rounds} pushes of a new version of {names[0]} ...", flush=True)
        latencies, agent_errors = measure_latency(work, registry_dir, catalog, names[0], args.latency_rounds)

        scale = n / sample
        extrapolated = f"; timed on {sample} repositories, extrapolated to {n}" if sample < n else ""
        print(f"\nUnchanged pass over {n} addon repositories (kaddons sync --concurrency {concurrency}; wall: best of "
              f"{args.rounds} for kaddons, one run for skopeo{extrapolated}; CPU: the client processes and the "
              "registry, per addon; requests: the registry's access log in a separate untimed run)")
        print(f"  {'pattern':44s} {'wall':>8s} {'client':>9s} {'registry':>9s} {'req/addon':>9s} {'per run':>7s}"
              "  requests received")
        print(f"  {'':44s} {'s':>8s} {'ms CPU':>9s} {'ms CPU':>9s}")
        for label in policies:
            req, timing = requests[label], best[label]
            print(f"  {'kaddons sync --check-digest, ' + label:44s} {timing.wall:8.2f} {_ms(timing.client_cpu, n):>9s} "
                  f"{_ms(timing.registry_cpu, n):>9s} {req.per_addon_mean:9.2f} {req.overhead:7d}  {req.kinds}")
        print(f"  {'skopeo list-tags + inspect --raw per addon':44s} {baseline.wall * scale:8.2f} "
              f"{_ms(baseline.client_cpu, sample):>9s} {_ms(baseline.registry_cpu, sample):>9s} "
              f"{skopeo_requests.total_mean:9.2f} {0:7d}  {skopeo_requests.kinds} (on {counted} repositories; "
              "each of the 2 processes per addon pings /v2/ after a failed TLS probe)")
        default, fixed = requests["k2s (default)"], requests[f"tag:{TAG}"]
        ours = best["k2s (default)"].wall
        ratio = baseline.wall * scale / ours
        print(f"\n  requests per unchanged addon, default policy: {default.per_addon_mean:.2f} "
              f"(goal <= {REQUEST_GOAL:.0f}: {verdict(default.per_addon_mean <= REQUEST_GOAL)}); "
              f"{default.total_mean:.3f} counting the run's discovery")
        print(f"  requests per unchanged addon, tag:{TAG}: {fixed.per_addon_mean:.2f} "
              f"(goal {FIXED_TAG_GOAL:.0f}: {verdict(fixed.per_addon_mean <= FIXED_TAG_GOAL)}); "
              f"{fixed.total_mean:.3f} counting the run's discovery")
        print(f"  ratio skopeo pattern / kaddons, default policy: {ratio:.1f}x "
              f"(goal >= {RATIO_GOAL:.0f}x: {verdict(ratio >= RATIO_GOAL)}); with tag:{TAG}: "
              f"{baseline.wall * scale / best[f'tag:{TAG}'].wall:.1f}x")
        print(f"  per addon: kaddons {ours / n * 1000:.2f} ms ({concurrency} at once), skopeo pattern "
              f"{baseline.wall / sample * 1000:.1f} ms; initial sync of {n} addons: {initial.wall:.1f} s")
        registry_cpu, cpus = best["k2s (default)"].registry_cpu, os.cpu_count() or 1
        if registry_cpu:
            floor = registry_cpu / cpus
            print(f"  bound: the registry alone spends {registry_cpu / n * 1000:.2f} ms CPU per unchanged addon "
                  f"(default policy); on {cpus} CPU(s) no client can finish the pass in less than {floor:.2f} s, "
                  f"i.e. beat the skopeo pattern by more than {baseline.wall * scale / floor:.0f}x on this machine")
        ours_start, skopeo_start = (statistics.median(times) for times in startup)
        print(f"\nStart-up: a no-op kaddons sync --check-digest --addon {names[0]} (one process, as each FluxCD Job "
              f"and Argo CD poll runs it): median {ours_start * 1000:.0f} ms of {len(startup[0])} "
              f"(goal < {STARTUP_GOAL * 1000:.0f} ms: {verdict(ours_start < STARTUP_GOAL)}); skopeo inspect --raw of "
              f"the same tag: {skopeo_start * 1000:.0f} ms; ratio {ours_start / skopeo_start:.2f}")
        print("  before kaddons' code runs (medians, new processes): " + "; ".join(
            f"{label} {seconds * 1000:.0f} ms" for label, seconds in floor_times.items()))
        median, worst = statistics.median(latencies), max(latencies)
        print(f"\nPush-to-catalog latency with registry notifications ({len(latencies)} pushes, agent interval 1h, "
              f"{n} addons in the catalog): median {median * 1000:.0f} ms, max {worst * 1000:.0f} ms "
              f"(goal < {LATENCY_GOAL * 1000:.0f} ms: {verdict(worst < LATENCY_GOAL)})")
        print("  each: " + ", ".join(f"{s * 1000:.0f} ms" for s in latencies))
        for line in agent_errors:
            print(f"  agent: {line.strip()}")
    finally:
        if args.keep:
            print(f"Kept {work} (sync-*.log, agent.log, catalog/, registry/)")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
