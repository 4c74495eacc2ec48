"""Maintenance that Beat runs as static entries: the retention cleanup, the daily stats rollup
and the weekly summary alert; and `panchang report`."""
