"""`python3 -m bench.identity [--quick] [--backend postgres|sqlite] [--output FILE]`."""

from bench.identity.report import main

raise SystemExit(main())
