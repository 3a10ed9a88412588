"""Serial (RS-232 / USB-CDC) QR and barcode scanners: one line per decode."""
