"""The shopper's phone app: its API (``/api/shop``), sign-in codes, sessions and the web files."""
