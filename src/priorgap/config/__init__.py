"""What a stage is told: params.yaml as strict models (schema.py), its command line and how it fails
(cli.py), and the device it runs on (device.py)."""
