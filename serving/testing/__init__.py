"""What tests and benchmarks share: `python -m serving` as a real subprocess (server_process) and small real
SavedModels of every kind the server must load (models, foreign_models)."""
