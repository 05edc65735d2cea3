"""The station on the plant network: spool + forwarder to PostgreSQL, MQTT results, an OPC UA face.

Qt-free. Each part runs on its own thread and reads the station's own SQLite (the spool), so none
of them can slow down or lose a verdict the station has stored.
"""
