"""lesionlab: decide which lesion images are worth an expert's time, learn from few and imperfect labels."""

__version__ = "0.1.0"
