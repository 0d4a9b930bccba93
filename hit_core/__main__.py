import sys

from hit_core.cli import main

sys.exit(main())
