from shared.runtime import run

from .bootstrap import bootstrap

run(bootstrap())
