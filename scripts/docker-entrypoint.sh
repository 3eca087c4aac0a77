#!/bin/sh
# Start a web or worker process: the container's entrypoint, and the command of the Procfile and
# the systemd units in deploy/ (production without Docker; `python` and `gunicorn` on PATH).
# - DJANGO_SECRET_KEY left empty in .env: generate one once into the shared var volume and
#   export it, so Django still reads it from the environment and never runs on a placeholder.
# - PROMETHEUS_MULTIPROC_DIR: shared by web and workers through the var volume; this
#   container's files (named <hostname>-<pid>) are removed at start, the others' are kept.
set -eu
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  key_file="${CELLWISE_VAR_DIR:-/app/var}/secret_key"
  mkdir -p "$(dirname "$key_file")"
  [ -s "$key_file" ] || (umask 077 && python -c "import secrets; print(secrets.token_urlsafe(50))" > "$key_file")
  DJANGO_SECRET_KEY=$(cat "$key_file"); export DJANGO_SECRET_KEY
fi
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && rm -f "$PROMETHEUS_MULTIPROC_DIR"/*_"$(hostname)"-*.db
fi
case "${1:-web}" in
  web)
    python manage.py migrate --noinput
    # Static files of this release (WhiteNoise serves them from CELLWISE_VAR_DIR/static).
    python manage.py collectstatic --noinput -v0
    python manage.py bootstrap
    # WEB_WORKERS, WEB_THREADS, keep-alive (75 s: the 2 s default reset pooled clients): see the file.
    exec gunicorn -c mlops_site/gunicorn_conf.py mlops_site.wsgi ;;
  worker)
    exec python manage.py worker ;;
  *)
    exec "$@" ;;
esac
