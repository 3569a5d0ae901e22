"""The folder `peft-efficiency run` puts first on PYTHONPATH; it holds only `sitecustomize.py`."""
