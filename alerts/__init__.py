"""Alerts: the rules (``rules/``, pure, one module per family), their lifecycle
(``lifecycle``), the service that runs them on the live feed and stores and delivers what they
raise (``service``, ``notify``), the ``[alerts]`` settings, and image diagnostics (``image``)."""
