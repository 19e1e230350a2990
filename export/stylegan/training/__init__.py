"""Training StyleGAN (kept apart from the networks and from export): losses, metrics, data, loop, CLI."""
