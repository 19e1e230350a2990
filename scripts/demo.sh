#!/usr/bin/env bash
# One command from a fresh clone to three served models answering real requests:
#   1. creates .venv if missing and installs the project with everything it runs (pip install -e ".[all]")
#   2. fetches the published weights (EfficientNet-B0 ImageNet, DETR-R50 COCO, StyleGAN FFHQ) into the
#      cache when they can be downloaded, and exports the three models into models/ with them; a model
#      whose weights cannot be fetched (offline, or DEMO_WEIGHTS=random) gets random weights, and the
#      output and out/index.html say so plainly (skipped for a model whose newest version already has
#      the chosen weights)
#   3. serves them: docker compose when Docker works (the official image if it can be pulled, else the
#      project's own image, built by scripts/docker_setup.sh only then), otherwise `python -m serving` in the background
#   4. calls each model over REST and over gRPC on docs/images/cat.jpg and writes the results to out/,
#      with out/index.html showing every picture and result and the weights each model used
#   5. stops the server (KEEP_SERVING=1 leaves it running)
# Deterministic: the same weights, image and seeds give the same results.
#
# Environment (all optional):
#   DEMO_WEIGHTS          auto | published | random  (default auto: published where they can be fetched)
#   KTS_WEIGHTS_MIRROR    a server holding the weights files under their published names
#   KTS_OFFLINE=1         use only weights already in the cache (python -m export weights fetch ...)
#   STYLEGAN_RESOLUTION   output size with random weights (default 64)
#   DEMO_IMAGE            photo to classify and detect on (default docs/images/cat.jpg)
#   DEMO_OUT              output folder (default out)    DEMO_FRESH=1  re-export every model
#   DEMO_SERVER           docker | python                (default: docker when it works)
#   TF_SERVING_IMAGE      image to serve with (default: official tensorflow/serving, else the project's)
#   TF_SERVING_GRPC_PORT / TF_SERVING_REST_PORT   (default 8500 / 8501)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${DEMO_OUT:-out}"
GRPC_PORT="${TF_SERVING_GRPC_PORT:-8500}"
REST_PORT="${TF_SERVING_REST_PORT:-8501}"
OFFICIAL_IMAGE="tensorflow/serving:2.21.0"
PROJECT_IMAGE="keras-to-serving/server:latest"
export TF_CPP_MIN_LOG_LEVEL=2
STARTED=$SECONDS

say() { printf '\n==> %s  [%ds]\n' "$*" $((SECONDS - STARTED)); }

# ---------------------------------------------------------------- 1. install
if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
fi
PY="$ROOT/.venv/bin/python"
if ! "$PY" -c "import tensorflow, keras, grpc, requests, PIL, clients, serving, export" 2>/dev/null; then
    say "installing the project into .venv (pip install -e \".[all]\")"
    "$PY" -m pip install -q --disable-pip-version-check -e ".[all]"
fi
# DETR's published checkpoints are PyTorch files: reading them needs torch (the [torch] extra).
if [ "${DEMO_WEIGHTS:-auto}" != random ] && ! "$PY" -c "import torch" 2>/dev/null; then
    say "installing torch to read DETR's published checkpoint (pip install -e \".[torch]\")"
    "$PY" -m pip install -q --disable-pip-version-check -e ".[torch]" || echo "torch could not be installed"
fi
mkdir -p "$OUT" models

# ---------------------------------------------------------------- 2. weights and export
WEIGHTS="${DEMO_WEIGHTS:-auto}"
case "$WEIGHTS" in auto|published|random) ;; *) echo "DEMO_WEIGHTS must be auto, published or random" >&2; exit 2;; esac
export KTS_WEIGHTS_RETRIES="${KTS_WEIGHTS_RETRIES:-1}"  # an unreachable host is not worth many tries here
RANDOM_MODELS=()

use_published() {  # use_published MODEL KEY: fetch KEY into the cache; 0 if the model can use it
    if [ "$WEIGHTS" = random ]; then RANDOM_MODELS+=("$1"); return 1; fi
    say "fetching the published weights of $1 ($2)"
    if "$PY" -m export weights fetch "$2" > "$OUT/fetch_$1.log" 2>&1; then
        tail -n 3 "$OUT/fetch_$1.log"
        return 0
    fi
    echo "could not fetch $2: $(tail -n 1 "$OUT/fetch_$1.log")"
    if [ "$WEIGHTS" = published ]; then echo "DEMO_WEIGHTS=published: stopping" >&2; exit 1; fi
    echo "!! $1 gets RANDOM weights: its results will be meaningless"
    RANDOM_MODELS+=("$1")
    return 1
}

newest_weights() {  # the preset key (or 'random', or 'none') the newest version of a model was exported with
    "$PY" - "$1" <<'EOF'
import json, sys
from pathlib import Path
versions = sorted((int(p.name), p) for p in Path("models", sys.argv[1]).glob("[0-9]*") if p.name.isdigit())
info = json.loads((versions[-1][1] / "assets.extra/export_info.json").read_text()) if versions else {}
print(info.get("weights_file", {}).get("preset", "random") if versions else "none")
EOF
}

export_model() {  # export_model NAME WANTED(preset key or random) ARGS...
    local name="$1" wanted="$2"; shift 2
    local have; have="$(newest_weights "$name")"
    if [ "$have" = "$wanted" ] && [ "${DEMO_FRESH:-0}" != 1 ]; then
        echo "models/$name already has a version with weights '$have'; skipping (DEMO_FRESH=1 re-exports)"
        return
    fi
    say "exporting $name (weights: $wanted)"
    "$PY" -m export "$name" --models-dir models "$@"
}

if use_published efficientnet efficientnet-b0:imagenet; then
    export_model efficientnet efficientnet-b0:imagenet --variant b0 --weights imagenet
else
    export_model efficientnet random --variant b0 --seed 0
fi
if "$PY" -c "import torch" 2>/dev/null && use_published detr detr-r50:coco; then
    export_model detr detr-r50:coco --weights coco
    DETECT_ARGS=()
else
    export_model detr random --seed 0
    # Random weights score about 1/91 everywhere: ask for the 10 best boxes so the picture shows some.
    DETECT_ARGS=(--threshold 0.0 --max-detections 10)
fi
if use_published stylegan stylegan:ffhq; then
    export_model stylegan stylegan:ffhq --weights ffhq
else
    export_model stylegan random --resolution "${STYLEGAN_RESOLUTION:-64}" --seed 0
fi

# ---------------------------------------------------------------- 3. serve
STOP_SERVER=()
cleanup() {
    if [ ${#STOP_SERVER[@]} -gt 0 ] && [ "${KEEP_SERVING:-0}" != 1 ]; then
        say "stopping the server"
        "${STOP_SERVER[@]}" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

compose() {
    if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

wait_rest_ready() {  # every model AVAILABLE over REST, or give up after $1 seconds
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt $deadline ]; do
        if "$PY" - "$REST_PORT" <<'EOF' 2>/dev/null; then return 0; fi
import sys
from clients.tfs_rest import RestClient
with RestClient(f"http://127.0.0.1:{sys.argv[1]}", retries=0, timeout=5) as c:
    assert all(any(s.state == "AVAILABLE" for s in c.status(m)) for m in ("efficientnet", "detr", "stylegan"))
EOF
        sleep 2
    done
    return 1
}

serve_with_docker() {
    bash scripts/docker_setup.sh --daemon || return 1
    local image="${TF_SERVING_IMAGE:-}"
    if [ -z "$image" ]; then
        if docker image inspect "$OFFICIAL_IMAGE" >/dev/null 2>&1 || timeout 120 docker pull -q "$OFFICIAL_IMAGE" >/dev/null 2>&1; then
            image="$OFFICIAL_IMAGE"
        else
            echo "the official image cannot be pulled here; serving with the project's image $PROJECT_IMAGE"
            image="$PROJECT_IMAGE"
        fi
    fi
    if [ "$image" = "$PROJECT_IMAGE" ]; then  # only the project's image is built here (minutes on a new machine)
        bash scripts/docker_setup.sh || return 1
    fi
    local service=serving
    if ! docker network inspect bridge >/dev/null 2>&1; then  # daemons started with --bridge=none
        service=serving-host
        export COMPOSE_PROFILES=host
    fi
    export TF_SERVING_IMAGE="$image" MODELS_DIR="$ROOT/models" \
        TF_SERVING_GRPC_PORT="$GRPC_PORT" TF_SERVING_REST_PORT="$REST_PORT" COMPOSE_PROJECT_NAME=keras-to-serving-demo
    say "docker compose up $service ($image)"
    STOP_SERVER=(compose down --timeout 30)
    compose up -d "$service" || return 1
    wait_rest_ready 900 || { compose logs --tail 40 "$service"; return 1; }
}

serve_with_python() {
    local config="$OUT/models.local.config"
    sed "s#\"/models/#\"$ROOT/models/#" deploy/image/config/models.config > "$config"
    say "python -m serving in the background (log: $OUT/server.log)"
    "$PY" -m serving --port="$GRPC_PORT" --rest_api_port="$REST_PORT" --grpc_host=127.0.0.1 \
        --rest_api_host=127.0.0.1 --model_config_file="$config" --allow_version_labels_for_unavailable_models \
        --monitoring_config_file=deploy/image/config/monitoring.config > "$OUT/server.log" 2>&1 &
    local pid=$!
    STOP_SERVER=(kill "$pid")
    wait_rest_ready 900 || { tail -n 40 "$OUT/server.log"; return 1; }
}

case "${DEMO_SERVER:-auto}" in
    python) serve_with_python ;;
    docker) serve_with_docker ;;
    *)
        if command -v docker >/dev/null 2>&1 && serve_with_docker; then :; else
            cleanup; STOP_SERVER=()
            echo "Docker is not usable here; falling back to python -m serving"
            serve_with_python
        fi ;;
esac

# ---------------------------------------------------------------- 4. call
IMAGE="${DEMO_IMAGE:-$ROOT/docs/images/cat.jpg}"
cp "$IMAGE" "$OUT/input.jpg"
if [ ${#RANDOM_MODELS[@]} -gt 0 ]; then
    NOTE="RANDOM WEIGHTS for: ${RANDOM_MODELS[*]}. Their results are meaningless. For real ones: run where the published weights can be downloaded (DEMO_WEIGHTS=published bash scripts/demo.sh), or run python -m export weights fetch KEY on such a machine and copy ~/.cache/keras-to-serving here."
else
    NOTE="Published weights for every model: efficientnet-b0:imagenet, detr-r50:coco, stylegan:ffhq (licences in out/index.html)."
fi
echo "$NOTE" > "$OUT/WEIGHTS.txt"

for transport in rest grpc; do
    if [ $transport = rest ]; then WHERE=(--rest "http://127.0.0.1:$REST_PORT"); else WHERE=(--grpc "127.0.0.1:$GRPC_PORT"); fi
    mkdir -p "$OUT/$transport"
    cp "$OUT/input.jpg" "$OUT/$transport/cat.jpg"
    say "$transport: EfficientNet top-5"
    "$PY" -m clients "${WHERE[@]}" classify-image "$OUT/$transport/cat.jpg" --label stable | tee "$OUT/$transport/efficientnet_top5.txt"
    say "$transport: DETR boxes"
    "$PY" -m clients "${WHERE[@]}" detect "$OUT/$transport/cat.jpg" "${DETECT_ARGS[@]}" --out "$OUT/$transport" \
        | tee "$OUT/$transport/detr_detections.txt"
    rm -f "$OUT/$transport/cat.jpg"
    say "$transport: StyleGAN samples"
    "$PY" -m clients "${WHERE[@]}" generate --seeds 0-7 --psi 0.7 --columns 4 --out "$OUT/$transport/stylegan_grid.png"
done

"$PY" scripts/demo_page.py "$OUT" models > /dev/null
say "done; results in $OUT/ (open $OUT/index.html)"
find "$OUT" -maxdepth 2 -type f \( -name '*.png' -o -name '*.txt' -o -name '*.html' \) | sort
printf '\n%s\n' "$NOTE"
