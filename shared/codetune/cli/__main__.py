"""`python -m codetune.cli`."""

import sys

from codetune.cli import main

sys.exit(main())
