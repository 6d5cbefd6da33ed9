"""CloudWatch metrics as Embedded Metric Format lines (Powertools): CloudWatch Logs extracts them, no API call.

Handler-edge code: the domain and the use cases never import it. Each function gets a provider of its own, not
Powertools' `Metrics`, whose metric set is shared by every instance in the process: the local runtime runs the
three handlers in one process, on threads, and one handler's flush must not publish another's counts.
"""

from __future__ import annotations

import os

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

# Terraform sets POWERTOOLS_METRICS_NAMESPACE; a namespace is mandatory in EMF, so local runs fall back to this.
DEFAULT_NAMESPACE = "chat-debouncer"


class Counters:
    """Counts for one invocation of one function, written as one EMF line by `publish`."""

    def __init__(self) -> None:
        self._provider = AmazonCloudWatchEMFProvider(namespace=DEFAULT_NAMESPACE)

    def count(self, name: str, value: int = 1) -> None:
        """Add `value` to the counter `name`; nothing is recorded for zero, so quiet invocations print nothing."""
        if value:
            self.record(name, MetricUnit.Count, value)

    def record(self, name: str, unit: MetricUnit, value: float) -> None:
        """One datum of `name` in `unit` (a latency, a size), zero included: a zero latency is a measurement."""
        self._provider.add_metric(name=name, unit=unit, value=value)

    def dimension(self, name: str, value: str) -> None:
        """A dimension of this invocation's counts (e.g. the channel); cleared by `publish`."""
        self._provider.add_dimension(name=name, value=value)

    def publish(self) -> None:
        """Print the counts as one EMF line (none when nothing was counted, or POWERTOOLS_METRICS_DISABLED), then
        forget them: Powertools keeps what it does not print, which would grow without end with metrics off."""
        if self._provider.metric_set:
            # Read when published: a module's counters outlive the environment it was imported in (local runtime).
            self._provider.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
            self._provider.flush_metrics()
        self._provider.clear_metrics()
