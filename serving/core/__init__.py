"""The serving core, layered as tensorflow/serving's core:

    server_core  config: ModelServerConfig transitions, labels, reload (ServerCore)
        -> source     polling of each base path, on disk or in object storage (s3://, gs://): which versions
                      each model aspires to (FileSystemStoragePathSource); remote_versions: when a version
                      in a bucket is complete
        -> version_cache  the loader hand-off: a remote version is copied into a bounded local cache
                      before it loads, and the copy goes with its unload
        -> lifecycle  per-model aspired versions, per-version harnesses, load/unload pools, retries
                      (AspiredVersionsManager + BasicManager + LoaderHarness), driven by
        -> policy     a pure function from version states to the actions to take (AvailabilityPreservingPolicy)
    router       ModelSpec -> one AVAILABLE servable, version labels

Only the lifecycle holds a lock while it looks at states; no load, unload, retry wait, copy or storage
scan ever runs under it, so one slow or failing model (or bucket) never holds another.
This package imports nothing on import; `policy`, `states` and `versions` never import TensorFlow.
"""
