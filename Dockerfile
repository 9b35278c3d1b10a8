# syntax=docker/dockerfile:1
# The kaddons agent image: `kaddons sync` / `kaddons agent` in the addon-sync Job and CronJob that
# `kaddons gitops render` writes. Build: docker build -t ghcr.io/kaddons/kaddons:0.1.0 .

# Builder: only the wheel (pure Python; dependencies come as wheels in the runtime stage).
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src/ src/
RUN pip wheel --no-deps --no-cache-dir --wheel-dir /wheels .

# Runtime: the wheel and its dependencies, no build tools, no pip cache, no `helm` extra.
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="kaddons" \
      org.opencontainers.image.description="Deliver Kubernetes addons as OCI artifacts through GitOps" \
      org.opencontainers.image.source="https://github.com/kaddons/kaddons" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir /wheels/*.whl \
 && groupadd --system --gid 65532 kaddons \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin kaddons
# Modules were compiled at install time; the root filesystem is read-only in the pods.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric, so Kubernetes can verify runAsNonRoot; the addon-sync pods run as 65532:65532 too.
USER 65532:65532
ENTRYPOINT ["kaddons"]
CMD ["--help"]
