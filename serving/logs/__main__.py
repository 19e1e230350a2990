"""`python -m serving.logs`: list, print and convert request logs (serving/logs/cli.py)."""

import sys

from serving.logs.cli import main

if __name__ == "__main__":
    sys.exit(main())
