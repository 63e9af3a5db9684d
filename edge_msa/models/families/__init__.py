"""One module per model family; importing this package registers them all (by discovery, so a
new family is one new file and nothing else)."""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
