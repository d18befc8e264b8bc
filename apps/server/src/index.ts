// The OpenAI-compatible server is planned (see README.md); nothing is exported yet.
export {};
