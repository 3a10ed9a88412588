"""Run the smartstore CLI with ``python -m smartstore``."""

from smartstore.cli import main

raise SystemExit(main())
