"""LCUS-1/2/4/8 USB relay boards (CH340, 9600 8N1): ``A0 <ch> <op> <sum>``."""
