"""CountyOS: the open digital foundation of a county (县域数字底座).

The package is split by capability (see docs/architecture.md); calls go downward only:
web/cli → services (lab, brain, reports, ops) → catalog → lake/engine → db → settings.
"""

__version__ = "0.1.0"
