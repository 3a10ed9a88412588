"""What every scale shares: the settle rule, the driver interface and the simulated platter.

``settle`` (pure settle rule and events), ``base`` (``ScaleDriver`` and the polling base class),
``model`` (the simulators' platter). The protocols live in ``devices.mtsics``,
``devices.toledo8217`` and ``devices.cas``.
"""
