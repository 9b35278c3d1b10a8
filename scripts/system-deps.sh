#!/usr/bin/env bash
# Install the Debian packages kaddons' tests and demo run against, if any is missing:
# docker-registry (CNCF distribution 2.8, the real OCI registry), skopeo (interop peer), age, git (its
# `git daemon` is the GitOps remote of the stacks tests), chromium (the web UI's browser tests), and
# python3-venv where the system Python cannot make a virtual environment (Debian splits it out).
# As root: apt-get installs them. Otherwise: one line naming the command to run, exit 1.
# `--only python3-venv` checks just that one (make demo: the demo runs without the others); `--bench` adds wrk, the
# HTTP load generator of benchmarks/serve.py (make bench).
set -euo pipefail
declare -A binary=([docker-registry]=docker-registry [skopeo]=skopeo [age]=age [git]=git [chromium]=chromium [wrk]=wrk)
packages=(docker-registry skopeo age git chromium)
[ "${1:-}" = "--bench" ] && packages+=(wrk)
missing=()
if [ "${1:-}" != "--only" ]; then
  for pkg in "${packages[@]}"; do
    command -v "${binary[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
  done
fi
"${PYTHON:-python3}" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "kaddons needs the Debian packages: ${missing[*]}. Install them as root:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "Installing ${missing[*]} (apt-get)..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
