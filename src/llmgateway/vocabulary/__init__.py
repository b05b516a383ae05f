"""The types every layer shares: the internal request, the events adapters yield, and the
results of finished calls. They sit below everything that uses them (core, providers,
metrics, tracking, observability) and above the catalog; errors are one layer lower still
(llmgateway.errors), so the catalog can raise them too."""
