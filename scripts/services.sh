#!/usr/bin/env bash
# Real services for the test suite, without Docker. Source it: `source scripts/services.sh up`
# starts what is missing, exports where each service is, and stops ours when the shell exits.
#   PostgreSQL  127.0.0.1:5432 (the machine's; started or installed if missing)
#   S3          moto_server on a free loopback port (MinIO's stand-in), buckets mlflow + cellwise
#   MLflow      `mlflow server` on a free port: PostgreSQL backend, artifacts proxied to S3
#   ClickHouse  chdb (the ClickHouse engine, in-process) at chdb://$RUN/chdb, tests only
#   Chromium    Debian's, for the browser tests (installed with apt if missing)
#   Redis       the redis-server binary; tests start private servers on free ports
#   promtool    from Debian's prometheus package: checks the shipped alerting rules
# Any service that cannot be started stops the script with an error (tests never skip it).
set -euo pipefail
: "${VENV:?source scripts/venv.sh first}"
RUN=$(mktemp -d /tmp/cellwise-services.XXXXXX); chmod 755 "$RUN"
SERVICE_PIDS=()
PG_HOST=127.0.0.1; PG_PORT=${CELLWISE_PG_PORT:-5432}
# Database names: several checkouts may run their suites at once on one server (tests use test_<name>).
DB_NAME=${CELLWISE_DB_NAME:-cellwise}; MLFLOW_DB=${DB_NAME}_mlflow

services_down() {
  for p in "${SERVICE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    alive=0; for p in "${SERVICE_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break; sleep 0.2
  done
  for p in "${SERVICE_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # url, seconds, log
  local deadline=$((SECONDS + $2))
  until curl -sf -o /dev/null "$1"; do
    if [ $SECONDS -ge $deadline ]; then echo "service at $1 did not start; last log lines:" >&2; tail -20 "$3" >&2; return 1; fi
    sleep 0.3
  done
}

ensure_postgres() {
  pg_isready -q -h $PG_HOST -p "$PG_PORT" 2>/dev/null && return 0
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "installing PostgreSQL..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 50); do pg_isready -q -h $PG_HOST -p "$PG_PORT" && return 0; sleep 0.2; done
  echo "PostgreSQL is not answering on $PG_HOST:$PG_PORT" >&2; return 1
}

ensure_chromium() {  # the browser tests drive Debian's Chromium through Playwright
  [ -x /usr/bin/chromium ] && return 0
  echo "installing Chromium..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  [ -x /usr/bin/chromium ] || { echo "Chromium could not be installed" >&2; return 1; }
}

ensure_redis_binary() {  # tests start private redis-servers (the Redis broker, health checks)
  command -v redis-server >/dev/null && return 0
  echo "installing Redis..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null
  command -v redis-server >/dev/null || { echo "redis-server could not be installed" >&2; return 1; }
}

ensure_promtool() {  # tests check and unit-test the Prometheus alerting rules (Debian's prometheus ships it)
  command -v promtool >/dev/null && return 0
  echo "installing promtool (Debian's prometheus package)..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 prometheus >/dev/null \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 prometheus >/dev/null; }
  command -v promtool >/dev/null || { echo "promtool could not be installed" >&2; return 1; }
}

services_up() {
  trap services_down EXIT
  ensure_postgres
  ensure_chromium
  ensure_redis_binary
  ensure_promtool
  psql -h $PG_HOST -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$MLFLOW_DB'" | grep -q 1 \
    || psql -h $PG_HOST -p "$PG_PORT" -U postgres -qc "CREATE DATABASE $MLFLOW_DB"

  local s3_port mlflow_port
  s3_port=$(free_port)
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$s3_port" >"$RUN/s3.log" 2>&1 & SERVICE_PIDS+=($!)
  wait_http "http://127.0.0.1:$s3_port/moto-api/" 30 "$RUN/s3.log"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
  export AWS_S3_ENDPOINT_URL="http://127.0.0.1:$s3_port" MLFLOW_S3_ENDPOINT_URL="http://127.0.0.1:$s3_port"
  "$VENV/bin/python" - <<PY
import boto3
s3 = boto3.client("s3", endpoint_url="$AWS_S3_ENDPOINT_URL")
for bucket in ("mlflow", "cellwise"):
    s3.create_bucket(Bucket=bucket)
PY

  mlflow_port=$(free_port)
  MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    "$VENV/bin/mlflow" server --host 127.0.0.1 --port "$mlflow_port" --workers 1 \
    --backend-store-uri "postgresql+psycopg://postgres@$PG_HOST:$PG_PORT/$MLFLOW_DB" \
    --artifacts-destination s3://mlflow/artifacts >"$RUN/mlflow.log" 2>&1 & SERVICE_PIDS+=($!)
  wait_http "http://127.0.0.1:$mlflow_port/health" 120 "$RUN/mlflow.log"

  export MLFLOW_TRACKING_URI="http://127.0.0.1:$mlflow_port"
  export DATABASE_URL="postgresql://postgres@$PG_HOST:$PG_PORT/$DB_NAME"
  export CELLWISE_TEST_CLICKHOUSE_DSN="chdb://$RUN/chdb"
  export CELLWISE_VAR_DIR="$RUN/var"
  export CELLWISE_SERVICES_LOGS="$RUN"
  echo "services up: PostgreSQL $PG_HOST:$PG_PORT, S3 $AWS_S3_ENDPOINT_URL, MLflow $MLFLOW_TRACKING_URI, ClickHouse $CELLWISE_TEST_CLICKHOUSE_DSN"
}

case "${1:-}" in
  up) services_up ;;
  *) echo "usage: source scripts/services.sh up" >&2; return 2 2>/dev/null || exit 2 ;;
esac
