"""`python -m bridge.bench --endpoints N --duration SECONDS [--json]`."""

from bridge.bench import main

raise SystemExit(main())
