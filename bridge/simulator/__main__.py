"""``python -m bridge.simulator``: the simulator without the main CLI."""

from bridge.simulator.cli import main

raise SystemExit(main())
