"""The service's limits, each defined once: the request models, the store and the error texts read them here."""

MAX_BODY_BYTES = 1_048_576  # a request body, in bytes
MAX_METADATA_PAIRS = 16  # key-value pairs of a thread's metadata
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE_LENGTH = 512
MAX_RESOURCE_ID_LENGTH = 128  # a file or vector store id
MAX_FILE_IDS = 20  # code_interpreter.file_ids
MAX_VECTOR_STORE_IDS = 1  # file_search.vector_store_ids
