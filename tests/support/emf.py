"""Reading the CloudWatch embedded-metric-format (EMF) blobs Powertools Metrics prints to stdout."""

from __future__ import annotations

import json
from typing import Any

import pytest


class Emf:
    """Reads the CloudWatch EMF blobs the handler printed (Powertools Metrics prints them to stdout)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], namespace: str) -> None:
        self._capsys = capsys
        self._namespace = namespace

    def clear(self) -> None:
        self._capsys.readouterr()

    def blobs(self) -> list[dict[str, Any]]:
        found = []
        for line in self._capsys.readouterr().out.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if isinstance(document, dict) and "_aws" in document:
                found.append(document)
        return found

    def totals(self) -> dict[str, float]:
        """Sum of each metric over the blobs printed since the last read, for our namespace only."""
        totals: dict[str, float] = {}
        for blob in self.blobs():
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                if directive["Namespace"] != self._namespace:
                    continue
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    values = value if isinstance(value, list) else [value]
                    totals[metric["Name"]] = totals.get(metric["Name"], 0.0) + sum(values)
        return totals
