"""`python -m jobs.label`: see jobs/label/__init__.py."""

import sys

from jobs.label.run import main

sys.exit(main())
