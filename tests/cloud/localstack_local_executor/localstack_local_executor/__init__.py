"""LocalStack Lambda runtime executor plugin: functions run as local Python processes (see plugin.py)."""
