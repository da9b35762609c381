# flexrec: the recording service's image (`flexrec serve`, `flexrec worker`, `flexrec sim`).
#
# Choices:
# - python:3.11-slim (Debian bookworm): Debian like the machines the tests run on, and the oldest
#   Python flexrec supports (what the lock is resolved for); pinned to a patch release and its
#   digest (docker-library/repo-info), updated together.
# - installed by scripts/install-python.sh, the script `make setup` runs for the tests: every
#   dependency from requirements.lock with its hash checked, so the image holds what was tested.
# - one image, many roles: the command picks `serve`, `worker` or `sim` (compose.yaml).
# - runs as an unprivileged user; state lives in PostgreSQL, Redis and S3, and the data folder
#   (/var/lib/flexrec) holds only the embedded defaults when those are not configured.
FROM python:3.11.16-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b AS build

# A build stage with a C compiler, so the analysis's C modules (flexrec/analysis/_frames.c and
# _vad.c) are built: the slim image has none, and without them the install goes on with the
# numpy passes (the same figures, ~5 ms more CPU per five-minute recording). The import below
# fails the build if they were not built (-P: not from the sources in /src, which have no .so).
# The final stage copies the virtual environment alone: no compiler, no sources.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.lock pyproject.toml README.md LICENSE ./
COPY scripts/install-python.sh scripts/
COPY flexsim/ flexsim/
COPY flexrec/ flexrec/
RUN bash scripts/install-python.sh /opt/flexrec \
    && /opt/flexrec/bin/python -P -c "import flexrec.analysis._frames, flexrec.analysis._vad"

# The same base image, so the environment's interpreter path (/usr/local/bin) holds.
FROM python:3.11.16-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/flexrec /opt/flexrec
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/flexrec flexrec

USER flexrec
WORKDIR /var/lib/flexrec
ENV PATH=/opt/flexrec/bin:$PATH \
    FLEXREC_DATA_DIR=/var/lib/flexrec \
    FLEXREC_HOST=0.0.0.0 \
    FLEXREC_PORT=8080

EXPOSE 8080
# Liveness only; /readyz (503 with the reasons) is for the load balancer and alerts. It asks the
# port the service was told to listen on (FLEXREC_PORT), not the default.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FLEXREC_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["flexrec"]
CMD ["serve"]
