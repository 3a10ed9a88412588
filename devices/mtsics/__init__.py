"""Mettler Toledo MT-SICS balances and scales (ASCII lines ending CR LF, ``S``/``SI``/``Z``/``T``/``@``)."""
