"""The export pipeline, once for every model: preflight → build → write → verify → warmup → publish.

- ``model_export``: the protocol a model follows (``ModelExport``: options, flags, weights, build;
  ``Exportable``: what a build hands over), ``endpoint``: one serving signature;
- ``preflight``: the name, version, weights and input-file checks, before TensorFlow is imported;
- ``write``: trace the endpoints and write the SavedModel; ``examples``: the inputs they run on;
- ``verify``: reload and compare (``tolerance``: how far two runs of one graph may differ);
- ``warmup``: the warmup records; ``publish``: atomic versions in the model repository;
- ``runner``: the stages in order (``run``, ``write_version``, ``write_checked``); ``inspection``:
  reading an export back. Progress of long work is ``export.progress``'s.

``run``, ``write_version`` and ``write_checked`` are importable from here; importing the package
does not import TensorFlow (the runner does, on first use).
"""

__all__ = ["run", "write_checked", "write_version"]


def __getattr__(name: str):
    if name in __all__:
        from export.pipeline import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'export.pipeline' has no attribute {name!r}")
