"""The project's base layer, beneath the data layer and everything else: the settings framework (options declared
once on dataclass fields), the errors a user sees, log messages, atomic writes, and the cores a process may use.
It imports nothing of the project but itself (``tests/test_settings.py`` checks)."""
