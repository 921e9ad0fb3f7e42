"""Write the API's OpenAPI document to `schemas/openapi.json`: `python -m services.api.openapi` (a unit test fails
when the checked-in file drifts from the code)."""

import json
from pathlib import Path

from .bootstrap import create_app
from .config import ApiSettings

OUT = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"


def render() -> str:
    document = create_app(ApiSettings()).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")  # noqa: T201
