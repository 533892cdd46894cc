"""The service's limits, each defined once: the request models, the store and the error texts read them here."""

MAX_BODY_BYTES = 1_048_576  # a request body, in bytes
MAX_METADATA_PAIRS = 16  # key-value pairs of a thread's metadata
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE_LENGTH = 512
MAX_RESOURCE_ID_LENGTH = 128  # a file or vector store id
MAX_FILE_IDS = 20  # code_interpreter.file_ids
MAX_VECTOR_STORE_IDS = 1  # file_search.vector_store_ids
MAX_CREATE_BODY_BYTES = 4_194_304  # a body of the two create routes, which may carry message content
MAX_TEXT_LENGTH = 256_000  # a message's text (string content, or a text part's text), in code points
MAX_CONTENT_PARTS = 100  # parts of one message's content
MAX_URL_LENGTH = 2048  # an image URL other than a data URL
MAX_ATTACHMENTS = 10  # a message's attachments
MAX_THREAD_MESSAGES = 32  # messages of one create-thread
DEFAULT_PAGE_LIMIT = 20  # messages of a list page, unless `limit` says
MAX_PAGE_LIMIT = 100
MAX_PAGE_BYTES = 5_000_000  # a list response's JSON: a page ends early rather than pass it (Lambda answers 6 MB)
