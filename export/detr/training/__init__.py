"""Training DETR (kept apart from the model and from export): matcher, set criterion, data, engine, CLI."""
