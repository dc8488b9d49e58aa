"""The application layer: each step of the chain as one function, its collaborators (storage,
publisher, Vertex AI, settings, logger) passed in. The entry points in functions/ decode an
event and call one of these; tests drive them with in-memory fakes."""
