"""OSDP readers (RS-485): framing codec here, control panel and secure channel through ``libosdp``."""
