"""Model repositories in object storage (`s3://bucket/prefix`, `gs://bucket/prefix`), read by the server's
remote source (serving/core) and written by the exporter's publish stage (export/pipeline), one way for both.

    url      the URL grammar: which base paths are remote, bucket and key, joining
    store    the one interface both sides use (list, read, download, upload, put, delete), its errors with
             canonical code names, its timeouts; `open_store(url)` picks the SDK
    s3, gcs  that interface over boto3 and google-cloud-storage (imported only when a URL needs them:
             `pip install keras-to-serving[object-storage]`)
    marker   how a version says it is complete: `_SUCCESS`, written last, with the manifest of its files

Credentials and endpoints come from each SDK's standard environment (AWS_*, AWS_ENDPOINT_URL, the shared AWS
config files, web identity; GOOGLE_APPLICATION_CREDENTIALS, workload identity, STORAGE_EMULATOR_HOST).
"""

from protocol.object_store.store import ObjectInfo, Store, StoreError, StoreOptions, open_store
from protocol.object_store.url import ObjectURL, is_remote, parse_url

__all__ = ["ObjectInfo", "ObjectURL", "Store", "StoreError", "StoreOptions", "is_remote", "open_store", "parse_url"]
