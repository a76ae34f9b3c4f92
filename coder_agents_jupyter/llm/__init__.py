"""LLM providers behind one provider-neutral interface (``base.Provider``)."""
