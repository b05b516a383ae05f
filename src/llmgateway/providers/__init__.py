"""Provider adapters: each translates a ChatRequest into a vendor SDK call and back."""
