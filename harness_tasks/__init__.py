"""The bundled lm-eval task folders (YAML, utils.py, README); see README.md here."""
