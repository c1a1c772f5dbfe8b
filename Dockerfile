# Image for the router worker and the Fakturownia simulator (see docker-compose.yml).
#   docker build -t invoice-router .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs, named one by one: the build context also holds .venv/ and
# build/ (Kafka jars and data), which must not end up in the image. README.md* because
# pyproject.toml names it as the readme (the glob keeps the build working without it).
COPY pyproject.toml README.md* ./
COPY schemas ./schemas
COPY domain ./domain
COPY config ./config
COPY adapters ./adapters
COPY workers ./workers
COPY simulators ./simulators
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app \
    && chown app:app /app

# Sample configuration, simulator accounts and orders (`docker compose` and the README use them).
COPY demo ./demo

# Not root. /app is writable for the user: Faust keeps a small data directory there.
USER app

CMD ["invoice-router", "worker"]
