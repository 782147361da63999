"""The experiment configs: `<name>.py:get_config()`, each `spritejax.config.base_config()` with what differs.

This folder ships in the wheel as `spritejax.configs`; `spritejax.config.load` finds a name (`tiny`) here, or
takes a path to any such file.
"""
