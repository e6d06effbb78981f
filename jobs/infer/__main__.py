"""`python -m jobs.infer`: see jobs/infer/__init__.py."""

import sys

from jobs.infer.run import main

sys.exit(main())
