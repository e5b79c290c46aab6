"""``python -m bridge.simulator.emogg``: the Emogg simulator without the main CLI."""

from bridge.simulator.emogg.cli import main

raise SystemExit(main())
