"""The smartstore application: the one CLI and the composition of the other packages."""
