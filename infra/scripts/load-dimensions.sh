#!/usr/bin/env bash
# Load dimension CSVs into Table Storage (Azure or Azurite) with the az CLI, one
# `az storage entity insert --if-exists replace` per row. Stop-gap until
# `logmetrics load-dimensions` exists; fine for thousands of rows, slow for more.
#
# Row scheme (read by the function app's Table Storage lookup; docs/AZURE.md):
#   table        = lookup name from pipeline.json without non-alphanumerics (gateway_cluster -> gatewaycluster)
#   PartitionKey = lookup name (gateway_cluster)
#   RowKey       = key column values in pipeline.json key order, each percent-encoded
#                  (RFC 3986 unreserved kept, like Uri.EscapeDataString), joined with '|'
#   properties   = every other CSV column, as a string, named by its CSV header
# A lookup's CSV is <dir>/<lookup name>.csv with a header row.
#
# Usage:
#   infra/scripts/load-dimensions.sh [--azurite] [--pipeline pipeline.json] [dir]
#     Azure:   uses STORAGE_ACCOUNT_NAME (eval "$(azd env get-values)") and --auth-mode login;
#              needs Storage Table Data Contributor (infra grants it to AZURE_PRINCIPAL_ID).
#     Azurite: well-known dev account on AZURITE_TABLE_ENDPOINT (default http://127.0.0.1:10002/devstoreaccount1).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
pipeline="$root/pipeline.json"
dir="$root/samples/dimensions"
azurite=false

while [ $# -gt 0 ]; do
  case $1 in
    --azurite) azurite=true ;;
    --pipeline) pipeline=$2; shift ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) dir=$1 ;;
  esac
  shift
done

if $azurite; then
  endpoint=${AZURITE_TABLE_ENDPOINT:-http://127.0.0.1:10002/devstoreaccount1}
  # Azurite's published development account and key (not a secret).
  auth=(--connection-string "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=$endpoint;")
else
  : "${STORAGE_ACCOUNT_NAME:?set STORAGE_ACCOUNT_NAME, e.g. eval \"\$(azd env get-values)\"}"
  auth=(--account-name "$STORAGE_ACCOUNT_NAME" --auth-mode login)
fi

# lookup name, table name, key columns (comma-separated) for each lookup in pipeline.json
lookups() {
  python3 - "$pipeline" <<'PY'
import json, re, sys
for lookup in json.load(open(sys.argv[1])).get("lookups", []):
    name = lookup["name"]
    print(name, re.sub(r"[^A-Za-z0-9]", "", name), ",".join(k["column"] for k in lookup["key"]))
PY
}

# One line per CSV row: the az --entity arguments, separated by \x1f.
entities() {  # entities <csv> <partitionKey> <keycols>
  python3 - "$@" <<'PY'
import csv, sys, urllib.parse
path, pk, keys = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
with open(path, newline="", encoding="utf-8-sig") as f:
    reader = csv.DictReader(f)
    missing = [k for k in keys if k not in (reader.fieldnames or [])]
    if missing:
        sys.exit(f"{path}: key column(s) {missing} not in header {reader.fieldnames}")
    for row in reader:
        if not any((v or "").strip() for v in row.values()):
            continue
        rk = "|".join(urllib.parse.quote(row[k] or "", safe="") for k in keys)
        args = [f"PartitionKey={pk}", f"RowKey={rk}"]
        for c in reader.fieldnames:
            if c not in keys:
                # az infers Edm.Int32/Int64/Double from digit strings; pin every column to a string.
                args += [f"{c}={row[c] or ''}", f"{c}@odata.type=Edm.String"]
        print("\x1f".join(args))
PY
}

lookups | while read -r name table keys; do
  csv="$dir/$name.csv"
  if [ ! -f "$csv" ]; then
    echo "skip $name: no $csv" >&2
    continue
  fi
  az storage table create --name "$table" "${auth[@]}" --output none </dev/null
  n=0
  while IFS=$'\x1f' read -r -a entity; do
    az storage entity insert --table-name "$table" --if-exists replace "${auth[@]}" --output none \
      --entity "${entity[@]}" </dev/null
    n=$((n + 1))
  done < <(entities "$csv" "$name" "$keys")
  echo "$table: $n rows from $csv"
done
