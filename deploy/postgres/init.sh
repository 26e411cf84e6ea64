#!/bin/sh
# Run once by the postgres image on an empty data directory (docker-compose.yml): one database per
# service, owned by a role of the same name that may log in only with its password from the
# environment ($INTAKE_DB_PASSWORD, $TRACKING_DB_PASSWORD, $SCORING_DB_PASSWORD, $NOTIFY_DB_PASSWORD)
# and cannot connect to another service's database: no service reads another's data.
set -eu
for service in intake tracking scoring notify; do
  variable="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password="$(printenv "$variable")" || { echo "init.sh: set $variable" >&2; exit 1; }
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
       -v role="$service" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
