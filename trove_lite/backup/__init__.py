"""Backups in the control plane: API-side service, tenant keys, options."""
