"""Tools the model may call, grouped as the seed groups them."""
