#!/usr/bin/env bash
# Ready when every model named in a text ModelServerConfig has an AVAILABLE version and every
# version label in it points at an AVAILABLE version. Asks the server's REST API through bash's
# /dev/tcp, so it needs only bash, awk and grep (no curl in the official or the project's image).
#
#   bash healthcheck.sh [REST_PORT] [MODEL_CONFIG]      defaults: 8501 /config/models.config
#
# Used by docker-compose.yml's healthcheck, `python -m serving.launch`, and the Kubernetes readiness
# probe. Exit 0 healthy, 1 not (with the reason on stderr).
set -u
port="${1:-8501}"
config="${2:-/config/models.config}"

# One "model version" line per model (version empty: any) and per label (the labelled version).
checks="$(awk '
    { line = $0; sub(/#.*/, "", line)
      while (match(line, /(^|[^A-Za-z_])(name|value)[ \t]*:[ \t]*("[^"]*"|[0-9]+)/)) {
          token = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
          sub(/^[^a-z]*/, "", token); field = token; sub(/[ \t]*:.*/, "", field)
          value = token; sub(/^[a-z]*[ \t]*:[ \t]*/, "", value); gsub(/"/, "", value)
          if (field == "name") { model = value; print model } else if (model != "") print model, value
      } }' "$config")" || { echo "cannot read $config" >&2; exit 1; }
[ -n "$checks" ] || { echo "$config names no models" >&2; exit 1; }

while read -r model version; do
    path="/v1/models/$model${version:+/versions/$version}"
    exec 3<>"/dev/tcp/127.0.0.1/$port" || { echo "REST port $port is closed" >&2; exit 1; }
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
    if ! grep -Eq '"state" *: *"AVAILABLE"' <&3; then
        echo "$model${version:+ version $version}: no AVAILABLE version" >&2
        exit 1
    fi
    exec 3<&-
done <<< "$checks"
