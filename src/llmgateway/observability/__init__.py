"""What operators watch: Prometheus metrics, OpenTelemetry traces, structured access logs."""
