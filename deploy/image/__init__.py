"""The serving container: its Dockerfile, the configuration mounted at /config (config/), and the tools
that run it (`python -m deploy.image.launch`) and package exported models as images
(`python -m deploy.image.model_image`)."""

from pathlib import Path

# What docker-compose.yml and `launch` mount at /config: models.config, monitoring.config,
# batching.config and healthcheck.sh (deploy/kubernetes/base/config holds identical copies).
CONFIG_DIR = Path(__file__).resolve().parent / "config"

# The user every container of the project runs as: the server and model images' USER (uid only, so gid 0
# where nothing else is set, as KServe's modelcar needs: deploy/image/Dockerfile), docker-compose.yml's
# and launch's `user` (uid and gid), the manifests' runAsUser.
SERVER_UID = 1000
SERVER_USER = f"{SERVER_UID}:{SERVER_UID}"
