"""ESC/POS customer pole displays, 2 lines × 20 characters (Epson DM-D command mode, CD5220 mode)."""
