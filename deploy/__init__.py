"""Deployment material: the server image and its tools (`deploy.image`), Kubernetes (kubernetes/,
kustomize) and KServe (kserve/) manifests. Builds on serving/; nothing below imports it."""
