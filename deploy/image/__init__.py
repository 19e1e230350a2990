"""The serving container: its Dockerfile, the configuration mounted at /config (config/), and the tools
that run it (`python -m deploy.image.launch`) and package exported models as images
(`python -m deploy.image.model_image`)."""

from pathlib import Path

# What docker-compose.yml and `launch` mount at /config: models.config, monitoring.config,
# batching.config and healthcheck.sh (deploy/kubernetes/base/config holds identical copies).
CONFIG_DIR = Path(__file__).resolve().parent / "config"

# The user every container of the project runs as: the server image's USER, docker-compose.yml's and
# launch's `user`, the manifests' runAsUser/runAsGroup, and the owner of the model images' files.
SERVER_UID = 1000
SERVER_USER = f"{SERVER_UID}:{SERVER_UID}"
