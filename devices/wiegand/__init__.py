"""Wiegand readers and keypads behind a Wiegand-to-serial converter (text lines per frame)."""
