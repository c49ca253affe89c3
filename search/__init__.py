"""Search side: open an index and turn Persian or English queries into ranked passages."""
