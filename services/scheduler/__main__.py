from shared.runtime import run

from .app import bootstrap

run(bootstrap())
