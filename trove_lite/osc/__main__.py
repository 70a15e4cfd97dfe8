import sys

from trove_lite.osc.cli import main

sys.exit(main())
