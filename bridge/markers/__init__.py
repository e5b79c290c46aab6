"""Markers: LSL and OSC markers into Cortex ``injectMarker``, and the echo of the markers
Cortex reports in the EEG stream (issue 5). :class:`MarkerService` is what the daemon uses.
"""

from bridge.markers.marker import Marker, MarkerValue
from bridge.markers.queue import MarkerQueue, QueueReader
from bridge.markers.service import MarkerService

__all__ = ["Marker", "MarkerQueue", "MarkerService", "MarkerValue", "QueueReader"]
