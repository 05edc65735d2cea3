#!/usr/bin/env bash
# The plant-network servers for the tests and a one-box demo: PostgreSQL and Mosquitto from Debian's
# packages, listening on the loopback interface only, with all their data under one temporary folder.
#
#   bash packaging/services.sh start [postgres|mqtt]   # both when none is named
#   bash packaging/services.sh stop  [postgres|mqtt]
#   bash packaging/services.sh status
#   bash packaging/services.sh env                     # the settings for the tests (shell lines)
#
# Settings (environment):
#   INSPECTOR_SERVICES_DIR  data folder            (default: /tmp/inspector-services)
#   INSPECTOR_PG_PORT       PostgreSQL port         (default: 55432)
#   INSPECTOR_MQTT_PORT     Mosquitto port          (default: 18830; TLS on port + 1)
# The database "inspector" belongs to the role inspector / password inspector, and the broker takes
# user inspector / password inspector: test credentials on loopback, never for a plant.
# Debian packages: postgresql, mosquitto, mosquitto-clients, openssl (packaging/install.sh --test).
set -euo pipefail

DIR=${INSPECTOR_SERVICES_DIR:-/tmp/inspector-services}
PG_PORT=${INSPECTOR_PG_PORT:-55432}
MQTT_PORT=${INSPECTOR_MQTT_PORT:-18830}
MQTT_TLS_PORT=$((MQTT_PORT + 1))
USER_NAME=inspector
PASSWORD=inspector

pg_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$found" ]; then
    echo "PostgreSQL is not installed (Debian package: postgresql)" >&2
    return 1
  fi
  echo "$found"
}

# PostgreSQL refuses to run as root: as root, run its programs as the 'postgres' system user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin data="$DIR/postgres"
  bin=$(pg_bin)
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  if [ ! -s "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
    local pwfile="$DIR/.pgpass-init"
    echo "$PASSWORD" >"$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$bin/initdb" -D "$data" -U "$USER_NAME" --pwfile="$pwfile" --auth=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$DIR/postgres-initdb.log" 2>&1 || {
      cat "$DIR/postgres-initdb.log" >&2
      rm -rf "$data" "$pwfile"
      return 1
    }
    rm -f "$pwfile"
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$data'
fsync = on
track_commit_timestamp = on
EOF
  fi
  if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgres: already running on 127.0.0.1:$PG_PORT"
    return 0
  fi
  as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null || {
    tail -20 "$data/server.log" >&2
    return 1
  }
  if ! PGPASSWORD=$PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U "$USER_NAME" -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'inspector'" | grep -q 1; then
    PGPASSWORD=$PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U "$USER_NAME" -d postgres -qc "CREATE DATABASE inspector"
  fi
  echo "postgres: running on 127.0.0.1:$PG_PORT (data in $data)"
}

stop_postgres() {
  local bin data="$DIR/postgres"
  bin=$(pg_bin)
  if [ -s "$data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    echo "postgres: stopped"
  fi
}

make_certs() {
  local tls="$DIR/mqtt/tls"
  [ -s "$tls/server.crt" ] && return 0
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=inspector test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$tls/server.key" \
    -out "$tls/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/ext.cnf"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 30 -extfile "$tls/ext.cnf" -out "$tls/server.crt" >/dev/null 2>&1
  chmod 644 "$tls"/*
}

start_mqtt() {
  local data="$DIR/mqtt"
  command -v mosquitto >/dev/null || PATH=$PATH:/usr/sbin
  command -v mosquitto >/dev/null || {
    echo "Mosquitto is not installed (Debian package: mosquitto)" >&2
    return 1
  }
  mkdir -p "$data/db"
  if [ -s "$data/mosquitto.pid" ] && kill -0 "$(cat "$data/mosquitto.pid")" 2>/dev/null; then
    echo "mqtt: already running on 127.0.0.1:$MQTT_PORT"
    return 0
  fi
  make_certs
  rm -f "$data/passwd"
  touch "$data/passwd"
  chmod 600 "$data/passwd"
  mosquitto_passwd -b "$data/passwd" "$USER_NAME" "$PASSWORD" 2>/dev/null
  cat >"$data/mosquitto.conf" <<EOF
per_listener_settings false
allow_anonymous false
password_file $data/passwd
persistence true
persistence_location $data/db/
autosave_interval 1
log_dest file $data/mosquitto.log
pid_file $data/mosquitto.pid
listener $MQTT_PORT 127.0.0.1
listener $MQTT_TLS_PORT 127.0.0.1
cafile $data/tls/ca.crt
certfile $data/tls/server.crt
keyfile $data/tls/server.key
EOF
  if [ "$(id -u)" = 0 ]; then
    echo "user mosquitto" >>"$data/mosquitto.conf"
    chown -R mosquitto "$data"
  fi
  rm -f "$data/mosquitto.pid"
  mosquitto -c "$data/mosquitto.conf" -d
  local i
  for i in $(seq 1 100); do
    if mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" -u "$USER_NAME" -P "$PASSWORD" -t inspector/ping -m ok \
      >/dev/null 2>&1; then
      echo "mqtt: running on 127.0.0.1:$MQTT_PORT (TLS on $MQTT_TLS_PORT; data in $data)"
      return 0
    fi
    sleep 0.1
  done
  tail -20 "$data/mosquitto.log" >&2 || true
  return 1
}

stop_mqtt() {
  local pidfile="$DIR/mqtt/mosquitto.pid" pid i
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "mqtt: stopped"
  fi
  rm -f "$pidfile"
}

print_env() {
  echo "INSPECTOR_TEST_PG_URL=postgresql+psycopg://$USER_NAME:$PASSWORD@127.0.0.1:$PG_PORT/inspector"
  echo "INSPECTOR_TEST_MQTT=mqtt://$USER_NAME:$PASSWORD@127.0.0.1:$MQTT_PORT"
  echo "INSPECTOR_TEST_MQTT_CA=$DIR/mqtt/tls/ca.crt"
}

cmd=${1:-}
what=${2:-all}
case "$cmd" in
  start)
    case "$what" in
      postgres) start_postgres ;;
      mqtt) start_mqtt ;;
      all) start_postgres && start_mqtt ;;
      *) echo "unknown service: $what (postgres or mqtt)" >&2; exit 2 ;;
    esac ;;
  stop)
    case "$what" in
      postgres) stop_postgres ;;
      mqtt) stop_mqtt ;;
      all) stop_mqtt; stop_postgres ;;
      *) echo "unknown service: $what (postgres or mqtt)" >&2; exit 2 ;;
    esac ;;
  status)
    bin=$(pg_bin)
    if as_pg "$bin/pg_ctl" -D "$DIR/postgres" status >/dev/null 2>&1; then echo "postgres: running"; else echo "postgres: stopped"; fi
    if [ -s "$DIR/mqtt/mosquitto.pid" ] && kill -0 "$(cat "$DIR/mqtt/mosquitto.pid")" 2>/dev/null; then echo "mqtt: running"; else echo "mqtt: stopped"; fi ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|status|env [postgres|mqtt]" >&2; exit 2 ;;
esac
