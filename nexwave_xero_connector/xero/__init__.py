"""Everything that talks to Xero over HTTP, built on xero-python. Nothing here imports frappe."""
