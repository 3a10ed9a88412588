"""The fleet broker: generated Mosquitto configuration, ACL roles and identity management."""
