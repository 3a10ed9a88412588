"""``smartstore cloud top``: a live terminal view of the fleet, drawn from the cloud's REST API."""
