# attest verification service. Build: docker build -t attest .   Run: see docker-compose.yml and docs/service.md
FROM python:3.11-slim AS build
# a C compiler for the mypyc build of the verification path (setup.py); only this stage has it: the wheel
# carries the compiled modules (and their sources, the pure-Python fallback) into the runtime image
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY src ./src
# src/attest/profiles is a symbolic link to the top-level profiles/ directory
COPY profiles ./profiles
RUN pip install --no-cache-dir --upgrade pip \
 && pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres,redis]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    ATTEST_DATA_DIR=/var/lib/attest
RUN groupadd --system --gid 10001 attest \
 && useradd --system --uid 10001 --gid attest --home-dir /var/lib/attest --shell /usr/sbin/nologin attest \
 && mkdir -p /var/lib/attest /etc/attest \
 && chown attest:attest /var/lib/attest
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "attest[postgres,redis]" && rm -rf /wheels \
 && attest --version
USER attest:attest
WORKDIR /var/lib/attest
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"
# One worker per container: scale with replicas (metrics and the trust-store watcher are per process).
# SIGTERM: uvicorn finishes requests in flight (and their audit writes) before exiting.
STOPSIGNAL SIGTERM
CMD ["attest", "serve", "--host", "0.0.0.0", "--port", "8080"]
