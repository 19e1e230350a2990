"""`python -m serving.launch`: the name issues, scripts and users already type for
`python -m deploy.image.launch` (the deployment tools moved to deploy/image/). Same arguments, same
behaviour; with serving/model_image.py the only modules of serving/ that import deploy/, and only to
hand over."""

import sys

from deploy.image.launch import main

if __name__ == "__main__":
    sys.exit(main())
