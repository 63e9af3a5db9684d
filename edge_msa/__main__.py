import sys

from edge_msa.cli import main

sys.exit(main())
