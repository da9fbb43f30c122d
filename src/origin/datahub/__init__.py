"""The DataHub service: meters (GSRN), imports from the national DataHub, publishing and issuing."""

from zoneinfo import ZoneInfo

COPENHAGEN = ZoneInfo("Europe/Copenhagen")  # Danish calendar days and hours: store UTC, show this
