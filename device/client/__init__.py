"""The toy's HTTP transport to the cloud. Only the privacy gate may use it."""
