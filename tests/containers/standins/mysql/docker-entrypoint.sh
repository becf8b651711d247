#!/usr/bin/env bash
# Stand-in for the entry point of the official mysql image (docker-library/mysql), for a machine
# without a registry: MySQL from Debian's packages, first started the way `mysql:8.4` is.
#
# How far it is from `mysql:8.4`: the server is Debian's mysql-server (from sid; its version
# is printed at start and is not 8.4), run as the mysql user by mysqld's own --user, not gosu.
# Honoured as there: MYSQL_ROOT_PASSWORD / MYSQL_ALLOW_EMPTY_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD
# (one is required), MYSQL_ROOT_HOST (default %), MYSQL_DATABASE, MYSQL_USER + MYSQL_PASSWORD
# (all privileges on MYSQL_DATABASE), the *_FILE variants, and /docker-entrypoint-initdb.d
# (*.sh, *.sql, *.sql.gz, *.sql.xz, *.sql.zst, in name order, into MYSQL_DATABASE) run once, on an
# empty data directory, by a temporary server that listens on no TCP port. Not supported:
# MYSQL_ONETIME_PASSWORD, MYSQL_INITDB_SKIP_TZINFO (time zones are always loaded).
set -euo pipefail
shopt -s nullglob

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
note() { echo "$(date -u +%FT%TZ) [Note] [Entrypoint]: $*"; }
die() { echo "$(date -u +%FT%TZ) [ERROR] [Entrypoint]: $*" >&2 && exit 1; }

# VAR_FILE=/path reads VAR from a file (Docker secrets), as the official image does.
file_env() { # VAR [DEFAULT]
  local var=$1 file_var="${1}_FILE" default=${2:-}
  if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
    die "both $var and $file_var are set (but are exclusive)"
  fi
  local value=$default
  if [[ -n "${!var:-}" ]]; then
    value=${!var}
  elif [[ -n "${!file_var:-}" ]]; then
    value=$(<"${!file_var}")
  fi
  export "$var"="$value"
  unset "$file_var"
}

sql() { # [--database=DB] : run SQL from stdin on the temporary server as root
  # The password through the environment: an argument would show in the process list.
  MYSQL_PWD=$ROOT_AUTH mysql --protocol=socket --socket="$SOCKET" -uroot --comments "$@"
}

run_init_file() { # FILE
  local f=$1 db=()
  [[ -n "$MYSQL_DATABASE" ]] && db=(--database="$MYSQL_DATABASE")
  case "$f" in
    *.sh)
      note "$0: running $f"
      if [[ -x "$f" ]]; then "$f"; else # shellcheck disable=SC1090
        . "$f"; fi
      ;;
    *.sql) note "$0: running $f" && sql "${db[@]}" <"$f" ;;
    *.sql.gz) note "$0: running $f" && gunzip -c "$f" | sql "${db[@]}" ;;
    *.sql.xz) note "$0: running $f" && xzcat "$f" | sql "${db[@]}" ;;
    *.sql.zst) note "$0: running $f" && zstd -dc "$f" | sql "${db[@]}" ;;
    *) note "$0: ignoring $f" ;;
  esac
}

initialize() {
  file_env MYSQL_ROOT_PASSWORD
  file_env MYSQL_ROOT_HOST %
  file_env MYSQL_DATABASE
  file_env MYSQL_USER
  file_env MYSQL_PASSWORD
  if [[ -z "$MYSQL_ROOT_PASSWORD" && -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" &&
    -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]]; then
    die "Database is uninitialized and password option is not specified
    You need to specify one of the following as an environment variable:
    - MYSQL_ROOT_PASSWORD
    - MYSQL_ALLOW_EMPTY_PASSWORD
    - MYSQL_RANDOM_ROOT_PASSWORD"
  fi
  [[ "$MYSQL_USER" != root ]] || die "MYSQL_USER=root: use MYSQL_ROOT_PASSWORD for the root user"
  if [[ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]]; then
    MYSQL_ROOT_PASSWORD=$(head -c 18 /dev/urandom | base64)
    note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi

  note "Initializing database files"
  "$@" --initialize-insecure --default-time-zone=SYSTEM
  note "Database files initialized"

  note "Starting temporary server"
  "$@" --daemonize --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" \
    --pid-file=/run/mysqld/init.pid >/dev/null
  ROOT_AUTH=
  for _ in $(seq 1 60); do
    mysqladmin --socket="$SOCKET" -uroot ping >/dev/null 2>&1 && break
    sleep 1
  done
  mysqladmin --socket="$SOCKET" -uroot ping >/dev/null || die "the temporary server did not start"
  note "Temporary server started."

  mysql_tzinfo_to_sql /usr/share/zoneinfo 2>/dev/null | sed 's/Local time zone must be set--see zic manual page/FCTY/' |
    sql --database=mysql
  # Quoting as the official image does: the values are the operator's own settings.
  {
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD//\'/\'\'}';"
    if [[ -n "$MYSQL_ROOT_HOST" && "$MYSQL_ROOT_HOST" != localhost ]]; then
      echo "CREATE USER 'root'@'${MYSQL_ROOT_HOST}' IDENTIFIED BY '${MYSQL_ROOT_PASSWORD//\'/\'\'}';"
      echo "GRANT ALL ON *.* TO 'root'@'${MYSQL_ROOT_HOST}' WITH GRANT OPTION;"
    fi
    echo "FLUSH PRIVILEGES;"
    [[ -z "$MYSQL_DATABASE" ]] || echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;"
  } | sql --database=mysql
  ROOT_AUTH=$MYSQL_ROOT_PASSWORD
  if [[ -n "$MYSQL_DATABASE" ]]; then note "Creating database ${MYSQL_DATABASE}"; fi
  if [[ -n "$MYSQL_USER" && -n "$MYSQL_PASSWORD" ]]; then
    note "Creating user ${MYSQL_USER}"
    echo "CREATE USER '${MYSQL_USER}'@'%' IDENTIFIED BY '${MYSQL_PASSWORD//\'/\'\'}';" |
      sql --database=mysql
    if [[ -n "$MYSQL_DATABASE" ]]; then
      note "Giving user ${MYSQL_USER} access to schema ${MYSQL_DATABASE}"
      echo "GRANT ALL ON \`${MYSQL_DATABASE//_/\\_}\`.* TO '${MYSQL_USER}'@'%';" |
        sql --database=mysql
    fi
  fi

  for f in /docker-entrypoint-initdb.d/*; do run_init_file "$f"; done

  note "Stopping temporary server"
  MYSQL_PWD=$ROOT_AUTH mysqladmin --socket="$SOCKET" -uroot shutdown >/dev/null 2>&1 ||
    die "unable to shut down the temporary server"
  note "Temporary server stopped"
  note "MySQL init process done. Ready for start up."
}

if [[ "${1:-}" == -* ]]; then set -- mysqld "$@"; fi
if [[ "${1:-}" == mysqld ]]; then
  note "Entrypoint script for MySQL Server $(mysqld --version | awk '{print $3}') (stand-in) started."
  set -- "$@" --user=mysql --datadir="$DATADIR"
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  chown mysql:mysql "$DATADIR"
  if [[ ! -d "$DATADIR/mysql" ]]; then
    ls /docker-entrypoint-initdb.d/ >/dev/null # fail early on an unreadable init directory
    initialize "$@"
  else
    note "Database directory appears to contain a database; Skipping initialization"
  fi
fi
exec "$@"
