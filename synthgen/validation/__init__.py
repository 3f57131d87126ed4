"""Quality (GX + fidelity), utility and privacy metrics, and the gates that read them."""
