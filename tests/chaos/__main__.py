"""`python -m tests.chaos --docs N --kills K --seed S`."""

import sys

from .harness import main

sys.exit(main())
