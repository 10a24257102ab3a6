# Sales Coach: the same service `make run` starts, with the knowledge index built into the image.
# Everything the service needs at run time (models included) comes from PyPI packages at build time;
# nothing is downloaded when the container starts.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COACH_DATA_DIR=/data \
    COACH_KNOWLEDGE_DIR=/app/knowledge \
    COACH_PROMPTS_DIR=/app/prompts

WORKDIR /app

# Dependencies first, so that editing knowledge/ or app/ does not reinstall them.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
# PostgreSQL (COACH_DATABASE_URL=postgresql://..., as in docker-compose.yml): the [postgres] extra.
RUN pip install 'psycopg[binary]==3.3.9'

COPY pyproject.toml README.md LICENSE ./
COPY app app
COPY knowledge knowledge
COPY prompts prompts
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 coach \
    && mkdir -p /data && chown coach /data

USER coach
# Build the index at image build time; a volume mounted on /data is seeded from it on first use.
RUN coach ingest
VOLUME ["/data"]

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"

# Ingest again only when the mounted data dir has no index (e.g. a bind mount); then serve.
CMD ["sh", "-c", "coach ingest --if-missing && exec coach serve --host 0.0.0.0 --port 8000"]
