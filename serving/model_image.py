"""`python -m serving.model_image`: the name issues, scripts and users already type for
`python -m deploy.image.model_image` (the deployment tools moved to deploy/image/). Same arguments,
same behaviour; with serving/launch.py the only modules of serving/ that import deploy/, and only to
hand over."""

import sys

from deploy.image.model_image import main

if __name__ == "__main__":
    sys.exit(main())
