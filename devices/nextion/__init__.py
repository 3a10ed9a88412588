"""Nextion HMI touch displays: ASCII instructions ending ``FF FF FF``, binary return codes and touch events."""
