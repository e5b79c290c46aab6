"""Where samples go: LSL outlets (:mod:`bridge.outputs.lsl`) and OSC (:mod:`bridge.outputs.osc`).

Nothing is imported here on purpose: the OSC side must not pull in liblsl, and the LSL
side must not pull in python-osc.
"""
