"""The serving core, layered as tensorflow/serving's core:

    server_core  config: ModelServerConfig transitions, labels, reload (ServerCore)
        -> source     file-system polling: which versions each model aspires to (FileSystemStoragePathSource)
        -> lifecycle  per-model aspired versions, per-version harnesses, load/unload pools, retries
                      (AspiredVersionsManager + BasicManager + LoaderHarness), driven by
        -> policy     a pure function from version states to the actions to take (AvailabilityPreservingPolicy)
    router       ModelSpec -> one AVAILABLE servable, version labels

Only the lifecycle holds a lock while it looks at states; no load, unload, retry wait or file-system
scan ever runs under it, so one slow or failing model never holds another.
This package imports nothing on import; `policy`, `states` and `versions` never import TensorFlow.
"""
