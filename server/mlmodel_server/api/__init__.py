"""HTTP endpoint modules (FastAPI routers), one per protocol."""
