"""From raw frames to a prediction: one path shared by `mer predict`, the pyfunc model and tests."""
