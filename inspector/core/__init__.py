"""Qt-free, torch-free domain code: types, recipes, calibration, metrics, images."""
