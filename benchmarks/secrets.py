"""Secrets benchmark: kaddons' SOPS encryption against plain ``sops`` on the same files, in one run (issue 12).

* A values file with 200 secret keys: encrypt and decrypt with kaddons (``kaddons.secrets.sops``, which pipes
  through the real ``sops``, plus the ciphertext check) and with ``sops encrypt`` / ``sops decrypt`` on the file.
  Goal: kaddons within 1.2x of ``sops`` (the work is the same).
* ``kaddons cluster encrypt addon`` as a user runs it (CLI start-up, the document loaded and edited) on that file.
* A repository with 100 encrypted files: ``kaddons sops rotate`` (start) against a local bare remote; seconds
  per file printed.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/secrets.py [--rounds 5]``).
"""

from __future__ import annotations

import os
import sys

# benchmarks/copy.py would shadow the standard library's ``copy`` module: drop this folder from the path.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def best(fn: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    import pygit2

    from kaddons.secrets import sops
    from kaddons.secrets.detect import load_sops_output, plaintext_values
    from kaddons.secrets.keys import keygen, write_recipients

    work = Path(tempfile.mkdtemp(prefix="kaddons-bench-secrets-"))
    try:
        key = work / "keys.txt"
        public = keygen(key)
        env = {**os.environ, "SOPS_AGE_KEY_FILE": str(key), "SOPS_DISABLE_VERSION_CHECK": "1"}
        os.environ.update({"SOPS_AGE_KEY_FILE": str(key), "SOPS_DISABLE_VERSION_CHECK": "1"})
        binary = sops.sops_binary()
        names = [f"secret{i:03d}" for i in range(200)]
        plaintext = "".join(f"service{i:03d}:\n  secret{i:03d}: value-{i}\n  port: {8000 + i}\n" for i in range(200))
        plain_file = work / "values.yaml"
        plain_file.write_text(plaintext)
        regex = sops.encrypted_regex(names)
        encrypted_file = work / "values.enc.yaml"

        def peer_encrypt() -> None:
            done = subprocess.run([binary, "encrypt", "--age", public, "--encrypted-regex", regex,
                                   "--output", str(encrypted_file), str(plain_file)], env=env, capture_output=True)
            assert done.returncode == 0, done.stderr

        def ours_encrypt() -> None:
            text = sops.encrypt(plaintext, keys=names, recipients=[public], what="values.yaml")
            assert not plaintext_values(load_sops_output(text, "values.yaml"), set(names))

        t_peer = best(peer_encrypt, options.rounds)
        t_ours = best(ours_encrypt, options.rounds)
        ciphertext = encrypted_file.read_text()
        t_peer_d = best(lambda: subprocess.run([binary, "decrypt", str(encrypted_file)], env=env,
                                               capture_output=True, check=True), options.rounds)
        t_ours_d = best(lambda: sops.decrypt(ciphertext, what="values.yaml"), options.rounds)
        print(f"encrypt 200 keys: sops {t_peer * 1000:6.0f} ms  kaddons {t_ours * 1000:6.0f} ms  "
              f"ratio {t_ours / t_peer:.2f} (goal <= 1.2)")
        print(f"decrypt 200 keys: sops {t_peer_d * 1000:6.0f} ms  kaddons {t_ours_d * 1000:6.0f} ms  "
              f"ratio {t_ours_d / t_peer_d:.2f} (goal <= 1.2)")

        # A repository of 100 encrypted files, rotated once.
        bare = work / "remote.git"
        pygit2.init_repository(str(bare), bare=True, initial_head="main").free()
        clone = work / "gitops"
        repo = pygit2.init_repository(str(clone), initial_head="main")
        repo.remotes.create("origin", str(bare))
        write_recipients(clone, [public])
        small = "".join(f"k{i}:\n  password: p{i}\n  user: u{i}\n" for i in range(20))
        for number in range(100):
            target = clone / "clusters" / "bench" / "values" / f"v{number:03d}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(sops.encrypt(small, keys=["password"], recipients=[public], what=target.name))
        repo.index.add_all()
        repo.index.write()
        signature = pygit2.Signature("bench", "bench@localhost")
        repo.create_commit("refs/heads/main", signature, signature, "seed", repo.index.write_tree(), [])
        repo.remotes["origin"].push(["refs/heads/main:refs/heads/main"])
        repo.free()
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kaddons", "sops", "rotate", "-o", str(work / "new.txt")],
                              cwd=clone, env={**os.environ, "HOME": str(work)}, capture_output=True, text=True)
        t_rotate = time.perf_counter() - started
        assert done.returncode == 0, done.stderr
        t_file = best(lambda: subprocess.run([binary, "decrypt", str(next((clone / "clusters").rglob("*.yaml")))],
                                             env=env, capture_output=True, check=True), options.rounds)
        print(f"rotate 100 files: {t_rotate:5.2f} s ({t_rotate / 100 * 1000:.0f} ms per file; one sops decrypt "
              f"alone {t_file * 1000:.0f} ms; a rotation decrypts and encrypts each file)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
