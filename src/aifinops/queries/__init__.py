"""Read models: one function per document (KPIs, snapshot, costs, usage, budgets, …) over store and engine."""
