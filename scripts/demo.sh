#!/usr/bin/env bash
# One command from a fresh clone to three served models answering real requests:
#   1. creates .venv if missing and installs the project with everything it runs (pip install -e ".[all]")
#   2. exports EfficientNet-B0, DETR-R50 and StyleGAN (64x64 by default) into models/,
#      with random weights unless weights are given (skipped for a model that already has a version)
#   3. serves them: docker compose when Docker works (the official image if it can be pulled, else the
#      project's own image, built by scripts/docker_setup.sh only then), otherwise `python -m serving` in the background
#   4. calls each model over REST and over gRPC through the clients and writes the results to out/
#   5. stops the server (KEEP_SERVING=1 leaves it running)
#
# Environment (all optional):
#   EFFICIENTNET_WEIGHTS  Keras .h5/.weights.h5 file for EfficientNet-B0    (default: random weights)
#   DETR_CHECKPOINT       official detr-r50-e632da11.pth                      (default: random weights)
#   STYLEGAN_PICKLE       official karras2019stylegan-*.pkl                   (default: random weights)
#   STYLEGAN_RESOLUTION   output size for random weights                     (default 64)
#   DEMO_IMAGE            photo to classify and detect on (default: a bundled sample or a drawn picture)
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
if ! "$PY" -c "import tensorflow, keras, tensorflow_serving, grpc, requests, PIL, clients, serving, export" 2>/dev/null; then
    say "installing the project into .venv (pip install -e \".[all]\")"
    "$PY" -m pip install -q --disable-pip-version-check -e ".[all]"
fi
mkdir -p "$OUT" models

# ---------------------------------------------------------------- 2. export
has_version() { ls -d "models/$1"/[0-9]* >/dev/null 2>&1; }
export_model() {  # export_model NAME ARGS...
    local name="$1"; shift
    if has_version "$name" && [ "${DEMO_FRESH:-0}" != 1 ]; then
        echo "models/$name already has a version; skipping (DEMO_FRESH=1 re-exports)"
        return
    fi
    local force=()
    [ "${DEMO_FRESH:-0}" = 1 ] && has_version "$name" && force=(--version 1 --force)
    say "exporting $name"
    "$PY" -m export "$name" --models-dir models "${force[@]}" "$@"
}
if [ -n "${EFFICIENTNET_WEIGHTS:-}" ]; then EFF_ARGS=(--weights "$EFFICIENTNET_WEIGHTS"); else EFF_ARGS=(); fi
export_model efficientnet --variant b0 "${EFF_ARGS[@]}"
if [ -n "${DETR_CHECKPOINT:-}" ]; then
    export_model detr --checkpoint "$DETR_CHECKPOINT"
    DETECT_ARGS=()
else
    export_model detr
    # Random weights score about 1/91 everywhere: ask for the 10 best boxes so the picture shows some.
    DETECT_ARGS=(--threshold 0.0 --max-detections 10)
fi
if [ -n "${STYLEGAN_PICKLE:-}" ]; then
    export_model stylegan --pickle "$STYLEGAN_PICKLE"
else
    export_model stylegan --resolution "${STYLEGAN_RESOLUTION:-64}"
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
from clients.rest import RestClient
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
IMAGE="${DEMO_IMAGE:-$OUT/sample.jpg}"
if [ -z "${DEMO_IMAGE:-}" ]; then
    "$PY" - "$IMAGE" <<'EOF'
import sys
from PIL import Image, ImageDraw
try:  # a real photo when scikit-learn (a test extra) is installed
    from importlib import resources
    data = resources.files("sklearn.datasets").joinpath("images", "china.jpg").read_bytes()
    open(sys.argv[1], "wb").write(data)
except Exception:
    picture = Image.new("RGB", (640, 480), "skyblue")
    draw = ImageDraw.Draw(picture)
    draw.rectangle([0, 360, 640, 480], fill="forestgreen")
    draw.ellipse([60, 200, 260, 400], fill="firebrick")
    draw.rectangle([360, 140, 560, 380], fill="gold")
    picture.save(sys.argv[1], quality=92)
EOF
fi

for transport in rest grpc; do
    if [ $transport = rest ]; then WHERE=(--rest "http://127.0.0.1:$REST_PORT"); else WHERE=(--grpc "127.0.0.1:$GRPC_PORT"); fi
    mkdir -p "$OUT/$transport"
    say "$transport: EfficientNet top-5"
    "$PY" -m clients "${WHERE[@]}" classify-image "$IMAGE" --label stable | tee "$OUT/$transport/efficientnet_top5.txt"
    say "$transport: DETR boxes"
    "$PY" -m clients "${WHERE[@]}" detect "$IMAGE" "${DETECT_ARGS[@]}" --out "$OUT/$transport" \
        | tee "$OUT/$transport/detr_detections.txt"
    say "$transport: StyleGAN samples"
    "$PY" -m clients "${WHERE[@]}" generate --seeds 0-15 --psi 0.7 --out "$OUT/$transport/stylegan_grid.png"
done

say "done; results in $OUT/"
find "$OUT" -maxdepth 2 -type f \( -name '*.png' -o -name '*.txt' \) | sort
