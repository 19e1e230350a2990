"""The benchmark suite: how fast each model is served, against the in-process floor, a naive
tutorial server and the machine's compute limit. Run it with `python -m benchmarks --help`."""
