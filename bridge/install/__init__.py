"""Setting a machine up: ``cortex-bridge init`` (a commented config for the common cases)
and ``cortex-bridge install-service`` (unit, config, CA and credential in place)."""
