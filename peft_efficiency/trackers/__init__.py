"""Measurement trackers, one module per quantity; the callbacks in `peft_efficiency.callbacks` drive them."""
