"""The plugin contract: everything a method, backbone or dataset plugin subclasses or receives.

``component`` (metadata + validated params), ``method``, ``backbone``, ``dataset`` (the three base
classes), ``taskdata`` (what a method sees and returns) and ``hookspecs`` (the pluggy hooks). Plugin
authors import these names from ``unic_bench`` directly.
"""
