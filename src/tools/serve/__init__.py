"""The server: the trained model behind ``POST /predict`` and a draw-a-digit page (``python -m src.tools serve``)."""
