"""The store's core: argument checks, plans, the rules of appending, state folds and the
operations' flows, written once for both faces of the store (see ARCHITECTURE.md)."""
