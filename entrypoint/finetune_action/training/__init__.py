"""Training on merge: fingerprint the data and config, launch the job once, wait, record the model."""
