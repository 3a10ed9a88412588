"""The store's edge agent: door, checkout and reporting, around a pure domain core."""
