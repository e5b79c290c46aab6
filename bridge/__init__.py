"""cortex-bridge: Emotiv Cortex streams as LSL outlets and OSC messages."""

__version__ = "0.1.0"
