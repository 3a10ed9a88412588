"""Services: coordinators that carry out what the pure domain decides, through ports."""
