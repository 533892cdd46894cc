"""Running the service on this machine: event replay, the local endpoint and their embedded DynamoDB.

The function's own modules (`app`, `threads_api`) are importable from here, as they are in Lambda, so that
local tools reuse the contract's texts and models instead of restating them.
"""

import pathlib
import sys

FUNCTION_CODE = pathlib.Path(__file__).resolve().parent.parent / "functions" / "threads"
if str(FUNCTION_CODE) not in sys.path:
    sys.path.append(str(FUNCTION_CODE))
