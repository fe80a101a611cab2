"""Row kinds: one module per sort of Xero Sync Log row, behind one protocol (protocol.py), registered in
claim order (registry.py). The drain (sync/drain/) hands each kind its rows through a small public context.
"""
